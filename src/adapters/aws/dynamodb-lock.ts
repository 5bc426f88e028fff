import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { DeleteItemCommand, PutItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { StoreLock } from '../../ports.js';
import { conflict, storageError, type CaError } from '../../domain/errors.js';
import { awsError, errorName } from './aws-errors.js';

export const LOCK_KEY = 'LOCK';

export interface DynamoDbLockOptions {
  client: DynamoDBClient;
  tableName: string;
  /**
   * The lease: how long the lock holds without renewal (default 60 s), so a run that died frees it within
   * about that. Renewed every quarter of it while held.
   */
  ttlMs?: number;
  /** who holds it, shown to whoever is refused (default host, pid and a random id) */
  owner?: string;
  /** wall clock, ms since the epoch: the item's `expiresAt`, which every run compares with its own clock */
  now?: () => number;
  /** a monotonic clock in ms: when our own lease ends, counted from the last successful put or renewal */
  monotonicNow?: () => number;
}

/** A failed renewal is tried once more after this long. */
const RENEW_RETRY_MS = 500;

/**
 * A lease in the registry table: a conditional put of the `LOCK` item with an owner and an expiry, so two
 * CI runs cannot change the CA at once. Renewed while held, released in `finally`; an expired lease
 * (a run that died) is taken over.
 *
 * The lease ends, by our own monotonic clock, one lease length after the last successful put or renewal
 * was sent (less a margin for the clocks of other hosts). A renewal whose condition fails means another
 * run owns the item: the lock is lost. A renewal that fails otherwise is tried once more; if our lease
 * has ended meanwhile, the lock is lost. `assertHeld` after our lease ended (the process stalled, say)
 * first renews: that succeeds only while the item still names us, i.e. nobody took it in between.
 */
export class DynamoDbLock implements StoreLock {
  private readonly client: DynamoDBClient;
  private readonly tableName: string;
  private readonly ttlMs: number;
  private readonly renewEveryMs: number;
  /** what our lease is shortened by, for another host whose clock runs ahead of ours */
  private readonly marginMs: number;
  private readonly requestTimeoutMs: number;
  private readonly owner: string;
  private readonly now: () => number;
  private readonly mono: () => number;
  private depth = 0;
  private holding = false;
  /** counts acquisitions, so a renewal timer of an earlier hold never renews a later one */
  private tenure = 0;
  private renewal?: NodeJS.Timeout;
  private renewing?: Promise<void>;
  /** monotonic instant our lease ends */
  private validUntil = 0;
  private lastRenewalError?: unknown;
  private lost?: CaError;

  constructor(o: DynamoDbLockOptions) {
    this.client = o.client;
    this.tableName = o.tableName;
    this.ttlMs = o.ttlMs ?? 60 * 1000;
    this.renewEveryMs = Math.max(100, Math.floor(this.ttlMs / 4));
    this.marginMs = Math.min(5000, Math.floor(this.ttlMs / 10));
    this.requestTimeoutMs = Math.max(1000, Math.floor(this.ttlMs / 6));
    this.owner = o.owner ?? `${hostname()}:${process.pid}:${randomUUID()}`;
    this.now = o.now ?? Date.now;
    this.mono = o.monotonicNow ?? (() => performance.now());
  }

  private fail(e: unknown, verb: string) {
    return awsError(e, verb, `the lock in DynamoDB table ${this.tableName}`, (name) =>
      name === 'ResourceNotFoundException' ? storageError(`DynamoDB table ${this.tableName} not found`, 'create it (partition key `pk`, type S; see the README) or fix `table` in the configuration') : undefined,
    );
  }

  private refused(item: Record<string, { S?: string; N?: string }> | undefined, now: number): CaError {
    const holder = item?.owner?.S ?? 'another ca command';
    const message = `another ca command (${holder}) is changing the CA in DynamoDB table ${this.tableName}`;
    const expiresAt = Number(item?.expiresAt?.N);
    if (!Number.isFinite(expiresAt)) return conflict(message, 'wait for it to finish');
    const seconds = Math.max(0, Math.ceil((expiresAt - now) / 1000));
    return conflict(message, `wait for it to finish; if it is no longer running, the lock frees in ${seconds} s (at ${new Date(expiresAt).toISOString()})`);
  }

  private async acquire(): Promise<void> {
    const now = this.now();
    const sent = this.mono();
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
      if (errorName(e) === 'ConditionalCheckFailedException') throw this.refused((e as { Item?: Record<string, { S?: string; N?: string }> }).Item, now);
      throw this.fail(e, 'take');
    }
    this.holding = true;
    this.tenure++;
    this.lost = undefined;
    this.lastRenewalError = undefined;
    this.validUntil = sent + this.ttlMs - this.marginMs;
    this.scheduleRenewal();
  }

  /** Renews every `renewEveryMs` while this hold (`tenure`) lasts; one renewal at a time. */
  private scheduleRenewal(tenure = this.tenure): void {
    this.renewal = setTimeout(() => {
      void this.renew()
        .catch(() => undefined)
        .finally(() => {
          if (this.holding && !this.lost && tenure === this.tenure) this.scheduleRenewal(tenure);
        });
    }, this.renewEveryMs);
    this.renewal.unref();
  }

  private lose(reason: string): void {
    this.lost ??= conflict(`lost the lock on DynamoDB table ${this.tableName}: ${reason}`, 're-run the command');
    clearTimeout(this.renewal);
  }

  /** One renewal at a time: a caller arriving while one is under way waits for it. */
  private renew(): Promise<void> {
    this.renewing ??= this.renewOnce().finally(() => (this.renewing = undefined));
    return this.renewing;
  }

  private async renewOnce(): Promise<void> {
    for (let attempt = 0; attempt < 2; attempt++) {
      if (!this.holding || this.lost) return;
      if (attempt > 0) await delay(RENEW_RETRY_MS);
      const sent = this.mono();
      try {
        await this.client.send(
          new UpdateItemCommand({
            TableName: this.tableName,
            Key: { pk: { S: LOCK_KEY } },
            UpdateExpression: 'SET expiresAt = :exp',
            ConditionExpression: '#o = :me',
            ExpressionAttributeNames: { '#o': 'owner' },
            ExpressionAttributeValues: { ':exp': { N: String(this.now() + this.ttlMs) }, ':me': { S: this.owner } },
          }),
          { abortSignal: AbortSignal.timeout(this.requestTimeoutMs) },
        );
        this.validUntil = sent + this.ttlMs - this.marginMs;
        this.lastRenewalError = undefined;
        return;
      } catch (e) {
        if (errorName(e) === 'ConditionalCheckFailedException') return this.lose('another run took it over (its lease had run out)');
        this.lastRenewalError = e;
      }
    }
    if (this.mono() >= this.validUntil) this.loseToRenewalFailure();
  }

  private loseToRenewalFailure(): void {
    const cause = this.lastRenewalError === undefined ? 'not renewed in time' : this.fail(this.lastRenewalError, 'renew').message;
    this.lose(`renewal failed (${cause}) and the lease ran out`);
  }

  async assertHeld(): Promise<void> {
    if (this.depth === 0 || !this.holding) return;
    if (!this.lost && this.mono() >= this.validUntil) {
      await this.renew();
      if (!this.lost && this.mono() >= this.validUntil) this.loseToRenewalFailure();
    }
    if (this.lost) throw this.lost;
  }

  private async release(): Promise<void> {
    this.holding = false;
    clearTimeout(this.renewal);
    this.renewal = undefined;
    await this.renewing?.catch(() => undefined);
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
