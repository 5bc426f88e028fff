import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { DeleteItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StoreLock } from '../../ports.js';
import { conflict, storageError } from '../../domain/errors.js';
import { awsError, errorName } from './aws-errors.js';

export const LOCK_KEY = 'LOCK';

export interface DynamoDbLockOptions {
  client: DynamoDBClient;
  tableName: string;
  /** how long a lock holds without renewal; renewed every third of it while held (default 15 min) */
  ttlMs?: number;
  /** who holds it, shown to whoever is refused (default host, pid and a random id) */
  owner?: string;
  now?: () => number;
}

/**
 * A lease in the registry table: a conditional put of the `LOCK` item with an owner and an expiry, so two
 * CI runs cannot change the CA at once. Renewed while held, released in `finally`; an expired lease
 * (a run that died) is taken over.
 */
export class DynamoDbLock implements StoreLock {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly ttlMs: number;
  private readonly owner: string;
  private readonly now: () => number;
  private depth = 0;
  private renewal?: NodeJS.Timeout;

  constructor(o: DynamoDbLockOptions) {
    this.client = o.client;
    this.tableName = o.tableName;
    this.ttlMs = o.ttlMs ?? 15 * 60 * 1000;
    this.owner = o.owner ?? `${hostname()}:${process.pid}:${randomUUID()}`;
    this.now = o.now ?? Date.now;
  }

  private fail(e: unknown, verb: string) {
    return awsError(e, verb, `the lock in DynamoDB table ${this.tableName}`, (name) =>
      name === 'ResourceNotFoundException' ? storageError(`DynamoDB table ${this.tableName} not found`, 'create it (partition key `pk`, type S; see the README) or fix `table` in the configuration') : undefined,
    );
  }

  private async acquire(): Promise<void> {
    const now = this.now();
    try {
      await this.client.send(
        new PutItemCommand({
          TableName: this.tableName,
          Item: {
            pk: { S: LOCK_KEY },
            owner: { S: this.owner },
            acquiredAt: { S: new Date(now).toISOString() },
            expiresAt: { N: String(now + this.ttlMs) },
          },
          ConditionExpression: 'attribute_not_exists(pk) OR expiresAt < :now OR #o = :me',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':now': { N: String(now) }, ':me': { S: this.owner } },
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        }),
      );
    } catch (e) {
      if (errorName(e) === 'ConditionalCheckFailedException') {
        const item = (e as { Item?: Record<string, { S?: string; N?: string }> }).Item;
        const holder = item?.owner?.S ?? 'another ca command';
        const until = item?.expiresAt?.N ? new Date(Number(item.expiresAt.N)).toISOString() : 'its expiry';
        throw conflict(`another ca command (${holder}) is changing the CA in DynamoDB table ${this.tableName}`, `wait for it to finish; its lock expires at ${until}`);
      }
      throw this.fail(e, 'take');
    }
    this.renewal = setInterval(() => void this.renew().catch(() => undefined), Math.max(1000, Math.floor(this.ttlMs / 3)));
    this.renewal.unref();
  }

  private async renew(): Promise<void> {
    const now = this.now();
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: { pk: { S: LOCK_KEY } },
        UpdateExpression: 'SET expiresAt = :exp',
        ConditionExpression: '#o = :me',
        ExpressionAttributeNames: { '#o': 'owner' },
        ExpressionAttributeValues: { ':exp': { N: String(now + this.ttlMs) }, ':me': { S: this.owner } },
      }),
    );
  }

  private async release(): Promise<void> {
    clearInterval(this.renewal);
    this.renewal = undefined;
    try {
      await this.client.send(
        new DeleteItemCommand({
          TableName: this.tableName,
          Key: { pk: { S: LOCK_KEY } },
          ConditionExpression: '#o = :me',
          ExpressionAttributeNames: { '#o': 'owner' },
          ExpressionAttributeValues: { ':me': { S: this.owner } },
        }),
      );
    } catch (e) {
      // Someone took over an expired lease: it is theirs now, nothing to release.
      if (errorName(e) !== 'ConditionalCheckFailedException') throw this.fail(e, 'release');
    }
  }

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth === 0) await this.acquire();
    this.depth++;
    let result: T;
    try {
      result = await fn();
    } catch (e) {
      // the command's own failure is the one to report, not a failed release
      if (--this.depth === 0) await this.release().catch(() => undefined);
      throw e;
    }
    if (--this.depth === 0) await this.release();
    return result;
  }
}
