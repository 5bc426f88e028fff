import { randomUUID } from 'node:crypto';
import {
  BatchGetItemCommand,
  GetItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import type { CertificateRecord, CertificateRegistry, CertStatus, RegistryChange, RegistryQuery } from '../../ports.js';
import { CaError, conflict, storageError } from '../../domain/errors.js';
import { awsError, errorName, isThrottling } from './aws-errors.js';
import { backoffMs, sleep } from './sdk-config.js';
import { certKey, itemToRecord, recordToItem } from './dynamodb-codec.js';

// certKey moved to the SDK-free codec; still exported here for existing callers
export { certKey };

/** DynamoDB's limit on actions in one TransactWriteItems call. */
export const MAX_TRANSACTION_ACTIONS = 100;
const BATCH_GET_LIMIT = 100;
const SCAN_SEGMENTS = 4;
const MAX_ATTEMPTS = 8;

export const clientKey = (clientId: string) => `CLIENT#${clientId}`;
export const CA_INDEX_KEY = 'CA';

function matches(r: CertificateRecord, q: RegistryQuery): boolean {
  return !((q.kind && r.kind !== q.kind) || (q.clientId && r.clientId !== q.clientId) || (q.status && r.status !== q.status));
}

/** The net effect of a commit on one serial: several changes to one serial fold into one write. */
interface NetChange {
  serial: string;
  create: boolean;
  /** status the stored record must have now (updates only) */
  expect?: CertStatus;
  record: CertificateRecord;
}

/** One TransactWriteItems action and how to explain its failed condition. */
export interface Action {
  item: TransactWriteItem;
  explain: (old: Record<string, AttributeValue> | undefined) => CaError;
}

export interface Group {
  key: string;
  actions: Action[];
}

export interface DynamoDbRegistryOptions {
  client: DynamoDBClient;
  tableName: string;
  /** called once per DynamoDB request, with the operation name (for request counting) */
  onRequest?: (operation: string) => void;
}

/**
 * The certificate registry in one DynamoDB table (schema in README.md beside this file):
 * `CERT#<serial>` items hold the records, `CLIENT#<id>` items index a client's serials and hold its one
 * active serial (the at-most-one-active invariant is a condition on that item), the `CA` item indexes CA records.
 */
export class DynamoDbRegistry implements CertificateRegistry {
  private readonly client: DynamoDBClient;
  readonly tableName: string;
  private readonly onRequest?: (operation: string) => void;

  constructor(o: DynamoDbRegistryOptions) {
    this.client = o.client;
    this.tableName = o.tableName;
    this.onRequest = o.onRequest;
  }

  private get resource(): string {
    return `DynamoDB table ${this.tableName}`;
  }

  private fail(e: unknown, verb: string): CaError {
    return awsError(e, verb, this.resource, (name) =>
      name === 'ResourceNotFoundException'
        ? storageError(`${this.resource} not found`, 'create it (partition key `pk`, type S; see the README) or fix `table` in the configuration')
        : undefined,
    );
  }

  async get(serial: string): Promise<CertificateRecord | undefined> {
    try {
      this.onRequest?.('GetItem');
      const r = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: certKey(serial) } }, ConsistentRead: true }));
      return r.Item ? itemToRecord(r.Item) : undefined;
    } catch (e) {
      throw this.fail(e, 'read');
    }
  }

  async list(q: RegistryQuery = {}): Promise<CertificateRecord[]> {
    try {
      const indexKeys: string[] = [];
      if (q.kind === 'root' || q.kind === 'intermediate') indexKeys.push(CA_INDEX_KEY);
      else if (q.clientId !== undefined) {
        indexKeys.push(clientKey(q.clientId));
        // CA records carry clientId `root` / `intermediate`.
        if (q.kind === undefined && (q.clientId === 'root' || q.clientId === 'intermediate')) indexKeys.push(CA_INDEX_KEY);
      }
      const records = indexKeys.length ? await this.viaIndex(indexKeys, q) : await this.scan(q);
      return records.filter((r) => matches(r, q));
    } catch (e) {
      throw this.fail(e, 'list certificates in');
    }
  }

  /** Strongly consistent: the index items, then their certificates by key. */
  private async viaIndex(indexKeys: string[], q: RegistryQuery): Promise<CertificateRecord[]> {
    const indexes = await this.batchGet(indexKeys.map((k) => ({ pk: { S: k } })));
    const serials = new Set<string>();
    for (const idx of indexes) {
      if (q.status === 'active' && idx.pk?.S?.startsWith('CLIENT#')) {
        if (idx.activeSerial?.S) serials.add(idx.activeSerial.S);
      } else {
        for (const s of idx.serials?.SS ?? []) serials.add(s);
      }
    }
    const items = await this.batchGet([...serials].map((s) => ({ pk: { S: certKey(s) } })));
    return items.map(itemToRecord);
  }

  private async batchGet(keys: Record<string, AttributeValue>[]): Promise<Record<string, AttributeValue>[]> {
    const out: Record<string, AttributeValue>[] = [];
    for (let i = 0; i < keys.length; i += BATCH_GET_LIMIT) {
      let pending: Record<string, AttributeValue>[] = keys.slice(i, i + BATCH_GET_LIMIT);
      for (let attempt = 0; pending.length; attempt++) {
        if (attempt > 0) await sleep(backoffMs(attempt));
        this.onRequest?.('BatchGetItem');
        const r = await this.client.send(new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: pending, ConsistentRead: true } } }));
        out.push(...(r.Responses?.[this.tableName] ?? []));
        pending = r.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        if (pending.length && attempt >= MAX_ATTEMPTS * 2) throw storageError(`${this.resource} kept returning unprocessed keys`, 'the table is throttled: wait and re-run');
      }
    }
    return out;
  }

  /** Lists by kind/status without a client id: a strongly consistent parallel Scan (reads the whole table). */
  private async scan(q: RegistryQuery): Promise<CertificateRecord[]> {
    const filters = ['begins_with(pk, :cert)'];
    const values: Record<string, AttributeValue> = { ':cert': { S: 'CERT#' } };
    const names: Record<string, string> = {};
    if (q.kind) {
      filters.push('#k = :k');
      values[':k'] = { S: q.kind };
      names['#k'] = 'kind';
    }
    if (q.status) {
      filters.push('#s = :s');
      values[':s'] = { S: q.status };
      names['#s'] = 'status';
    }
    const segment = async (n: number) => {
      const out: CertificateRecord[] = [];
      let start: Record<string, AttributeValue> | undefined;
      do {
        this.onRequest?.('Scan');
        const r = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            FilterExpression: filters.join(' AND '),
            ExpressionAttributeValues: values,
            ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
            Segment: n,
            TotalSegments: SCAN_SEGMENTS,
            ExclusiveStartKey: start,
          }),
        );
        for (const it of r.Items ?? []) out.push(itemToRecord(it));
        start = r.LastEvaluatedKey;
      } while (start);
      return out;
    };
    return (await Promise.all(Array.from({ length: SCAN_SEGMENTS }, (_, n) => segment(n)))).flat();
  }

  async commit(changes: RegistryChange[], opts: { atomic?: boolean } = {}): Promise<void> {
    // One transaction at a time: on a conflict every earlier group has landed and no later one has.
    for (const actions of planCommit(this.tableName, changes, opts)) await this.transact(actions);
  }

  /** One TransactWriteItems call, retried on throttling and transaction conflicts (same token: idempotent). */
  private async transact(actions: Action[]): Promise<void> {
    const token = randomUUID();
    for (let attempt = 0; ; attempt++) {
      try {
        this.onRequest?.('TransactWriteItems');
        await this.client.send(new TransactWriteItemsCommand({ TransactItems: actions.map((a) => a.item), ClientRequestToken: token }));
        return;
      } catch (e) {
        const reasons = (e as { CancellationReasons?: { Code?: string; Item?: Record<string, AttributeValue> }[] }).CancellationReasons;
        if (errorName(e) === 'TransactionCanceledException' && reasons) {
          const failed = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed');
          if (failed >= 0) throw actions[failed]!.explain(reasons[failed]!.Item);
          const retryable = reasons.every((r) => !r.Code || ['None', 'TransactionConflict', 'ThrottlingError', 'ProvisionedThroughputExceeded', 'RequestLimitExceeded'].includes(r.Code));
          if (retryable && attempt < MAX_ATTEMPTS) {
            await sleep(backoffMs(attempt));
            continue;
          }
        }
        if ((isThrottling(e) || errorName(e) === 'TransactionInProgressException') && attempt < MAX_ATTEMPTS) {
          await sleep(backoffMs(attempt));
          continue;
        }
        throw this.fail(e, 'write to');
      }
    }
  }
}

/**
 * The TransactWriteItems calls a commit makes: one when atomic, otherwise the client groups packed in order.
 * Exported so the request count can be checked without a server.
 * @throws CaError conflict for what is wrong without reading the table; internal beyond DynamoDB's limits
 */
export function planCommit(table: string, changes: RegistryChange[], opts: { atomic?: boolean } = {}): Action[][] {
  if (!changes.length) return [];
  const groups = planGroups(table, changes);
  if (!opts.atomic) return packGroups(groups);
  const actions = groups.flatMap((g) => g.actions);
  if (actions.length > MAX_TRANSACTION_ACTIONS) {
    throw new CaError('internal', `an atomic registry change of ${actions.length} writes exceeds DynamoDB's limit of ${MAX_TRANSACTION_ACTIONS} per transaction`);
  }
  return [actions];
}

/**
 * Packs groups into transactions of at most 100 actions, in order, never splitting a group. With groups of
 * k actions this makes ceil(n / floor(100 / k)) transactions: 3 per rotated client, so 33 clients per call.
 * @throws CaError internal when one group alone exceeds the limit
 */
export function packGroups(groups: Group[]): Action[][] {
  const out: Action[][] = [];
  let cur: Action[] = [];
  for (const g of groups) {
    if (g.actions.length > MAX_TRANSACTION_ACTIONS) {
      throw new CaError('internal', `the changes for ${g.key} need ${g.actions.length} writes, more than DynamoDB's ${MAX_TRANSACTION_ACTIONS} per transaction`);
    }
    if (cur.length + g.actions.length > MAX_TRANSACTION_ACTIONS) {
      out.push(cur);
      cur = [];
    }
    cur.push(...g.actions);
  }
  if (cur.length) out.push(cur);
  return out;
}

/** Folds changes per serial, groups them (per client, CA records together) and builds each group's conditional writes. */
function planGroups(table: string, changes: RegistryChange[]): Group[] {
  const nets = new Map<string, NetChange>();
  for (const c of changes) {
    const s = c.record.serial;
    const n = nets.get(s);
    if (!n) {
      nets.set(s, c.op === 'create' ? { serial: s, create: true, record: c.record } : { serial: s, create: false, expect: c.expect, record: c.record });
    } else if (c.op === 'create') {
      throw conflict(`serial ${s} is already in the registry`);
    } else {
      if (n.record.status !== c.expect) throw conflict(`certificate ${s} is ${n.record.status}, expected ${c.expect}: another command changed it`, 're-run the command');
      n.record = c.record;
    }
  }
  const byGroup = new Map<string, NetChange[]>();
  for (const n of nets.values()) {
    const key = n.record.kind === 'client' ? `client:${n.record.clientId}` : 'ca';
    const list = byGroup.get(key) ?? [];
    list.push(n);
    byGroup.set(key, list);
  }
  return [...byGroup].map(([key, list]) => ({ key, actions: [...list.map((n) => certAction(table, n)), ...indexAction(table, key, list)] }));
}

function certAction(table: string, n: NetChange): Action {
  const put = n.create
    ? { ConditionExpression: 'attribute_not_exists(pk)' }
    : { ConditionExpression: 'attribute_exists(pk) AND #s = :expect', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':expect': { S: n.expect! } } };
  return {
    item: { Put: { TableName: table, Item: recordToItem(n.record), ...put, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' } },
    explain: (old) => {
      if (n.create) return conflict(`serial ${n.serial} is already in the registry`);
      if (!old?.status?.S) return conflict(`serial ${n.serial} is not in the registry`);
      return conflict(`certificate ${n.serial} is ${old.status.S}, expected ${n.expect}: another command changed it`, 're-run the command');
    },
  };
}

/**
 * The index item's write for one group: new serials added to its set; for a client, `activeSerial` moved
 * conditionally, which makes DynamoDB itself refuse a second active certificate.
 */
function indexAction(table: string, key: string, list: NetChange[]): Action[] {
  const created = list.filter((n) => n.create).map((n) => n.serial);
  if (key === 'ca') {
    if (!created.length) return [];
    return [{ item: { Update: { TableName: table, Key: { pk: { S: CA_INDEX_KEY } }, UpdateExpression: 'ADD serials :new', ExpressionAttributeValues: { ':new': { SS: created } } } }, explain: () => conflict('the CA index changed meanwhile', 're-run the command') }];
  }
  const clientId = list[0]!.record.clientId;
  const before = list.filter((n) => !n.create && n.expect === 'active').map((n) => n.serial);
  const after = list.filter((n) => n.record.status === 'active').map((n) => n.serial);
  if (after.length > 1) throw conflict(`client ${clientId} would have ${after.length} active certificates`);
  const entering = after.filter((s) => !before.includes(s));
  const leaving = before.filter((s) => !after.includes(s));
  const values: Record<string, AttributeValue> = {};
  const clauses: string[] = [];
  let condition: string | undefined;
  if (created.length) {
    clauses.push('ADD serials :new');
    values[':new'] = { SS: created };
  }
  if (entering.length || leaving.length) {
    if (after.length) {
      clauses.push('SET activeSerial = :active');
      values[':active'] = { S: after[0]! };
    } else {
      clauses.push('REMOVE activeSerial');
    }
    const allowed = [...leaving, ...after.filter((s) => before.includes(s))];
    if (allowed.length) {
      condition = allowed.map((s, i) => `activeSerial = :was${i}`).join(' OR ');
      allowed.forEach((s, i) => (values[`:was${i}`] = { S: s }));
    } else {
      condition = 'attribute_not_exists(activeSerial)';
    }
  }
  if (!clauses.length) return [];
  return [
    {
      item: {
        Update: {
          TableName: table,
          Key: { pk: { S: clientKey(clientId) } },
          UpdateExpression: clauses.join(' '),
          ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
          ...(condition ? { ConditionExpression: condition } : {}),
          ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
        },
      },
      explain: (old) =>
        old?.activeSerial?.S
          ? conflict(`client ${clientId} already has an active certificate (serial ${old.activeSerial.S})`, 'another command issued one meanwhile: re-run the command')
          : conflict(`client ${clientId} has no active certificate any more`, 'another command changed it meanwhile: re-run the command'),
    },
  ];
}
