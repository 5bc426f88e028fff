import { createHash } from 'node:crypto';
import {
  BatchGetItemCommand,
  GetItemCommand,
  ScanCommand,
  TransactWriteItemsCommand,
  type AttributeValue,
  type DynamoDBClient,
  type TransactWriteItem,
} from '@aws-sdk/client-dynamodb';
import type { AuditDraft, AuditEvent, CertificateRecord, CertificateRegistry, CommitOptions, RegistryChange, RegistryQuery } from '../../ports.js';
import { sealEvent } from '../../domain/audit.js';
import { CaError, conflict, storageError } from '../../domain/errors.js';
import { checkGroup, planRegistryCommit, type ChangeGroup, type NetChange, type RegistryView } from '../../domain/registry-rules.js';
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
/** The audit chain's head: the last event's seq and hash, moved conditionally by every event's transaction. */
export const AUDIT_HEAD_KEY = 'AUDIT#HEAD';
/** One audit event's item; zero-padded so that the keys sort as the sequence does. */
export const auditKey = (seq: number) => `AUDIT#${String(seq).padStart(12, '0')}`;
/** The `AUDIT#HEAD` item: the last event's seq and hash, and the last truststore version the trail records. */
export interface AuditHeadItem {
  seq: number;
  hash: string;
  truststoreVersion?: string;
}
/** Actions one audit event adds to a transaction: its item and the head's conditional move. */
export const AUDIT_ACTIONS = 2;

function matches(r: CertificateRecord, q: RegistryQuery): boolean {
  return !((q.kind && r.kind !== q.kind) || (q.clientId && r.clientId !== q.clientId) || (q.status && r.status !== q.status));
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

  /**
   * Each change is one Put, and may need one Update of its client's index item; the audit event and the chain
   * head take two more: 98 actions hold 49 changes of any kind.
   */
  readonly limits = { maxAtomicChanges: Math.floor((MAX_TRANSACTION_ACTIONS - AUDIT_ACTIONS) / 2) };
  /** the audit chain's head as this process last wrote or read it (null: no event yet; undefined: read it) */
  private headCache?: AuditHeadItem | null;

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

  async commit(changes: RegistryChange[], opts: CommitOptions = {}): Promise<void> {
    // One transaction at a time: on a conflict every earlier group has landed and no later one has. With an audit
    // event each transaction carries its own, naming that transaction's serials: one event per part.
    const reserve = opts.audit ? AUDIT_ACTIONS : 0;
    for (const tx of planTransactions(this.tableName, changes, opts, reserve)) await this.transact(tx, opts.audit);
  }

  /**
   * The chain head item, read strongly; undefined when no event was written yet. Once this process has read or
   * moved it (writers hold the store lock), its own copy, until a failed condition says it moved.
   */
  async auditHead(): Promise<AuditHeadItem | undefined> {
    if (this.headCache !== undefined) return this.headCache ?? undefined;
    try {
      this.onRequest?.('GetItem');
      const r = await this.client.send(new GetItemCommand({ TableName: this.tableName, Key: { pk: { S: AUDIT_HEAD_KEY } }, ConsistentRead: true }));
      const head = r.Item?.seq?.N && r.Item.hash?.S ? { seq: Number(r.Item.seq.N), hash: r.Item.hash.S, ...(r.Item.truststoreVersion?.S ? { truststoreVersion: r.Item.truststoreVersion.S } : {}) } : undefined;
      this.headCache = head ?? null;
      return head;
    } catch (e) {
      throw this.fail(e, 'read the audit head from');
    }
  }

  /** Every audit event item, in sequence order (a strongly consistent Scan of the `AUDIT#` items). */
  async auditEvents(): Promise<AuditEvent[]> {
    const out: AuditEvent[] = [];
    try {
      let start: Record<string, AttributeValue> | undefined;
      do {
        this.onRequest?.('Scan');
        const r = await this.client.send(
          new ScanCommand({
            TableName: this.tableName,
            ConsistentRead: true,
            FilterExpression: 'begins_with(pk, :a) AND pk <> :head',
            ExpressionAttributeValues: { ':a': { S: 'AUDIT#' }, ':head': { S: AUDIT_HEAD_KEY } },
            ExclusiveStartKey: start,
          }),
        );
        for (const it of r.Items ?? []) {
          try {
            out.push(JSON.parse(it.event?.S ?? '') as AuditEvent);
          } catch {
            // an item edited out of shape: kept, for `ca audit verify` to name
            out.push({ seq: Number(it.seq?.N ?? NaN), unreadable: it.pk?.S } as unknown as AuditEvent);
          }
        }
        start = r.LastEvaluatedKey;
      } while (start);
    } catch (e) {
      throw this.fail(e, 'read the audit trail from');
    }
    // stored order is the key's order: the zero-padded seq
    return out.sort((a, b) => (a.seq ?? 0) - (b.seq ?? 0));
  }

  /** An event with no registry change: its own transaction (item + head). */
  async appendAudit(draft: AuditDraft): Promise<AuditEvent> {
    return (await this.transact({ groups: [] }, draft))!;
  }

  /** The item and the head's conditional move that chain `draft` (narrowed to `tx`) after the current head. */
  private async auditWrites(tx: Transaction, draft: AuditDraft): Promise<{ event: AuditEvent; head: AuditHeadItem; items: TransactWriteItem[] }> {
    const head = this.headCache === undefined ? await this.auditHead() : (this.headCache ?? undefined);
    const serials = new Set<string>();
    const clientIds = new Set<string>();
    for (const g of tx.groups) {
      for (const n of g.group.changes) serials.add(n.serial);
      if (g.group.clientId !== undefined) clientIds.add(g.group.clientId);
    }
    const narrowed = tx.groups.length ? { ...draft, serials: draft.serials.filter((s) => serials.has(s)), clientIds: draft.clientIds.filter((c) => clientIds.has(c)) } : draft;
    const event = sealEvent(narrowed, head);
    const t = this.tableName;
    // the head also carries the last truststore version the trail records (see AuditLog.lastTruststoreVersion)
    const truststoreVersion = event.truststoreVersion ?? head?.truststoreVersion;
    return {
      event,
      head: { seq: event.seq, hash: event.hash, ...(truststoreVersion ? { truststoreVersion } : {}) },
      items: [
        { Put: { TableName: t, Item: { pk: { S: auditKey(event.seq) }, seq: { N: String(event.seq) }, time: { S: event.time }, event: { S: JSON.stringify(event) } }, ConditionExpression: 'attribute_not_exists(pk)' } },
        {
          Put: {
            TableName: t,
            Item: { pk: { S: AUDIT_HEAD_KEY }, seq: { N: String(event.seq) }, hash: { S: event.hash }, ...(truststoreVersion ? { truststoreVersion: { S: truststoreVersion } } : {}) },
            ...(head
              ? { ConditionExpression: '#seq = :prev AND #h = :prevHash', ExpressionAttributeNames: { '#seq': 'seq', '#h': 'hash' }, ExpressionAttributeValues: { ':prev': { N: String(head.seq) }, ':prevHash': { S: head.hash } } }
              : { ConditionExpression: 'attribute_not_exists(pk)' }),
          },
        },
      ],
    };
  }

  /**
   * One TransactWriteItems call under a token derived from its content, so every retry of it (the SDK's, ours)
   * is the same request, which DynamoDB answers without applying it twice (for 10 minutes). A failed condition
   * is explained by the domain's rules on a fresh read of what the transaction touches: all of it already in
   * place means an earlier attempt landed and its answer was lost (a server that ignores the token, or a retry
   * after the window), which is success.
   */
  private async transact(tx: Transaction, draft?: AuditDraft): Promise<AuditEvent | undefined> {
    const changes = tx.groups.flatMap((g) => g.items);
    for (let attempt = 0; ; attempt++) {
      // the audit writes are rebuilt on each of our attempts (the head may have moved); the SDK's own retries
      // resend the same request under the same token
      const audit = draft ? await this.auditWrites(tx, draft) : undefined;
      const items = audit ? [...changes, ...audit.items] : changes;
      const token = transactionToken(items);
      try {
        this.onRequest?.('TransactWriteItems');
        await this.client.send(new TransactWriteItemsCommand({ TransactItems: items, ClientRequestToken: token }));
        if (audit) this.headCache = audit.head;
        return audit?.event;
      } catch (e) {
        const reasons = (e as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
        if (errorName(e) === 'TransactionCanceledException' && reasons) {
          const failed = reasons.findIndex((r) => r.Code === 'ConditionalCheckFailed');
          if (failed >= 0) {
            this.headCache = undefined;
            if (audit) {
              // our own attempt landed and its answer was lost: the head is our event
              const head = await this.auditHead();
              if (head?.hash === audit.event.hash) return audit.event;
              // the head moved (a writer without the lock?), the changes did not land: chain again on the new head
              if (failed >= changes.length) {
                if (attempt < MAX_ATTEMPTS) continue;
                throw conflict('the audit trail kept changing during the commit', 're-run the command');
              }
            }
            // the changes are in place already (an earlier run recorded them, with their event): nothing to write
            if (tx.groups.length && (await this.landed(tx))) return undefined;
            // the conditions failed, yet the state read a moment later satisfies them: it changed in between
            if (attempt < MAX_ATTEMPTS) {
              await sleep(backoffMs(attempt));
              continue;
            }
            throw conflict(`the registry entries of ${groupOfAction(tx, Math.min(failed, changes.length - 1))} kept changing during the commit`, 're-run the command');
          }
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

  /**
   * After a failed condition: reads (strongly) every item the transaction touches and lets the domain decide.
   * True when every group is already exactly in place; false when nothing is violated (the state changed meanwhile).
   * @throws CaError conflict: the first violated invariant
   */
  private async landed(tx: Transaction): Promise<boolean> {
    const keys = new Set<string>();
    for (const g of tx.groups) {
      for (const n of g.group.changes) keys.add(certKey(n.serial));
      if (g.group.clientId !== undefined) keys.add(clientKey(g.group.clientId));
    }
    let items: Record<string, AttributeValue>[];
    try {
      items = await this.batchGet([...keys].map((k) => ({ pk: { S: k } })));
    } catch (e) {
      throw this.fail(e, 'read');
    }
    const byKey = new Map(items.map((it) => [it.pk!.S!, it]));
    const view: RegistryView = {
      record: (serial) => {
        const it = byKey.get(certKey(serial));
        return it && itemToRecord(it);
      },
      activeSerials: (clientId) => {
        const s = byKey.get(clientKey(clientId))?.activeSerial?.S;
        return s ? [s] : [];
      },
    };
    let applied = true;
    for (const g of tx.groups) {
      const v = checkGroup(g.group, view);
      if (v.kind === 'violation') throw v.error;
      if (v.kind !== 'applied') applied = false;
    }
    return applied;
  }
}

/** A group of changes and the conditional writes that apply it. */
interface PlannedGroup {
  group: ChangeGroup;
  items: TransactWriteItem[];
}

/** One TransactWriteItems call: whole groups, in order. */
interface Transaction {
  groups: PlannedGroup[];
}

/** The client (or `the CA records`) whose write is at `index` in the transaction. */
function groupOfAction(tx: Transaction, index: number): string {
  let at = 0;
  for (const g of tx.groups) {
    at += g.items.length;
    if (index < at) return g.group.clientId !== undefined ? `client ${g.group.clientId}` : 'the CA records';
  }
  return 'the commit';
}

/** A ClientRequestToken (1–36 characters) that names exactly these writes. */
export function transactionToken(items: TransactWriteItem[]): string {
  return createHash('sha256').update(JSON.stringify(items)).digest('hex').slice(0, 36);
}

/**
 * The TransactWriteItems calls a commit makes: one when atomic, otherwise the client groups packed in order.
 * Exported so the request count can be checked without a server.
 * @throws CaError conflict for what the changes contradict by themselves; internal beyond DynamoDB's limits
 */
export function planCommit(table: string, changes: RegistryChange[], opts: { atomic?: boolean; audit?: boolean } = {}): TransactWriteItem[][] {
  return planTransactions(table, changes, opts, opts.audit ? AUDIT_ACTIONS : 0).map((tx) => tx.groups.flatMap((g) => g.items));
}

function planTransactions(table: string, changes: RegistryChange[], opts: { atomic?: boolean }, reserve = 0): Transaction[] {
  if (!changes.length) return [];
  const groups = planRegistryCommit(changes).map((group) => ({ group, items: [...group.changes.map((n) => certWrite(table, n)), ...indexWrite(table, group)] }));
  const room = MAX_TRANSACTION_ACTIONS - reserve;
  if (!opts.atomic) return packGroups(groups, room);
  const actions = groups.reduce((n, g) => n + g.items.length, 0);
  if (actions > room) {
    throw new CaError('internal', `an atomic registry change of ${actions} writes${reserve ? ` and its audit event` : ''} exceeds DynamoDB's limit of ${MAX_TRANSACTION_ACTIONS} per transaction`);
  }
  return [{ groups }];
}

/**
 * Packs groups into transactions of at most 100 actions, in order, never splitting a group. With groups of
 * k actions this makes ceil(n / floor(room / k)) transactions: 3 per rotated client, so 33 clients per call (32
 * with an audit event, whose two actions are reserved in every transaction).
 * @throws CaError internal when one group alone exceeds the limit
 */
function packGroups(groups: PlannedGroup[], room = MAX_TRANSACTION_ACTIONS): Transaction[] {
  const out: Transaction[] = [];
  let cur: PlannedGroup[] = [];
  let size = 0;
  for (const g of groups) {
    if (g.items.length > room) {
      throw new CaError('internal', `the changes for ${g.group.key} need ${g.items.length} writes, more than DynamoDB's ${room} per transaction beside its audit event`);
    }
    if (size + g.items.length > room) {
      out.push({ groups: cur });
      cur = [];
      size = 0;
    }
    cur.push(g);
    size += g.items.length;
  }
  if (cur.length) out.push({ groups: cur });
  return out;
}

/** The conditional Put of one certificate: new (create), or still in the status the change expects (update). */
function certWrite(table: string, n: NetChange): TransactWriteItem {
  const put = n.create
    ? { ConditionExpression: 'attribute_not_exists(pk)' }
    : { ConditionExpression: 'attribute_exists(pk) AND #s = :expect', ExpressionAttributeNames: { '#s': 'status' }, ExpressionAttributeValues: { ':expect': { S: n.expect! } } };
  return { Put: { TableName: table, Item: recordToItem(n.record), ...put } };
}

/**
 * The index item's write for one group: new serials added to its set; for a client, `activeSerial` moved
 * conditionally, which makes DynamoDB itself refuse a second active certificate between processes.
 */
function indexWrite(table: string, group: ChangeGroup): TransactWriteItem[] {
  const list = group.changes;
  const created = list.filter((n) => n.create).map((n) => n.serial);
  if (group.clientId === undefined) {
    if (!created.length) return [];
    return [{ Update: { TableName: table, Key: { pk: { S: CA_INDEX_KEY } }, UpdateExpression: 'ADD serials :new', ExpressionAttributeValues: { ':new': { SS: created } } } }];
  }
  const before = list.filter((n) => !n.create && n.expect === 'active').map((n) => n.serial);
  // at most one: planRegistryCommit refused more
  const after = list.filter((n) => n.record.status === 'active').map((n) => n.serial);
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
      Update: {
        TableName: table,
        Key: { pk: { S: clientKey(group.clientId) } },
        UpdateExpression: clauses.join(' '),
        ...(Object.keys(values).length ? { ExpressionAttributeValues: values } : {}),
        ...(condition ? { ConditionExpression: condition } : {}),
      },
    },
  ];
}
