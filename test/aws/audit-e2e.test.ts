/**
 * The audit trail on the AWS store, through the real binary against moto: each event is an `AUDIT#<seq>` item of
 * the registry table, written in the same TransactWriteItems call as the change it describes, with the chain head
 * `AUDIT#HEAD` moved conditionally; the actor is the STS caller identity. Read back with the SDK.
 */
import { DeleteItemCommand, GetItemCommand, PutItemCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { DynamoDbRegistry, AUDIT_HEAD_KEY, auditKey, planCommit } from '../../src/adapters/aws/dynamodb-registry.js';
import { verifyChain } from '../../src/domain/audit.js';
import type { AuditDraft, RegistryChange } from '../../src/ports.js';
import pkg from '../../package.json' with { type: 'json' };
import { PASSPHRASE, caAsync as ca, openssl, tempDir } from '../helpers/cli.js';
import { cliEnvFor, createBucket, createTable, REGION, unique, useMoto } from './moto-env.js';
import { fakeRecord } from '../helpers/records.js';

const fakeClient = (_tag: string, clientId: string) => fakeRecord({ clientId });

const { endpoint, clients } = useMoto();
const P12_PASSWORD = 'aws-p12-secret-9931';

type Event = { seq: number; operation: string; change: string; serials: string[]; clientIds: string[]; actor: string; version: string; command: string[]; run: string };

async function auditItems(table: string) {
  const out: Record<string, { S?: string; N?: string }>[] = [];
  let start: Record<string, never> | undefined;
  do {
    const r = await clients.dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true, ExclusiveStartKey: start }));
    out.push(...((r.Items ?? []) as typeof out).filter((i) => i.pk?.S?.startsWith('AUDIT#')));
    start = r.LastEvaluatedKey as typeof start;
  } while (start);
  return out;
}

describe('the audit trail of the AWS store (moto)', () => {
  const dir = tempDir('ca-aws-audit-');
  let table: string;
  let env: Record<string, string>;
  let arn: string;
  const events = async (...args: string[]): Promise<Event[]> => {
    const r = await ca(dir, ['audit', ...args, '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    return r.json().events;
  };
  const run = async (...args: string[]): Promise<Event[]> => {
    const before = (await events()).length;
    const r = await ca(dir, args, env);
    expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    return (await events()).slice(before);
  };

  beforeAll(async () => {
    const bucket = unique('ca-audit');
    table = unique('ca-audit');
    await createBucket(clients.s3, bucket);
    await createTable(clients.dynamodb, table);
    env = cliEnvFor(endpoint, bucket, table);
    arn = (await new STSClient({ region: REGION }).send(new GetCallerIdentityCommand({}))).Arn!;
    writeFileSync(join(dir, 'p12.pass'), `${P12_PASSWORD}\n`);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'partner.key'], dir);
    openssl(['req', '-new', '-key', 'partner.key', '-subj', '/CN=partner', '-out', 'partner.csr'], dir);
    // more clients than one transaction holds beside its audit event (49 creations, 32 renewals)
    writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: Array.from({ length: 60 }, (_, i) => ({ client_id: `m${String(i).padStart(2, '0')}` })) }));
  }, 60_000);

  it('bootstrap: three events as AUDIT# items, the head on the last, the actor the STS caller identity', async () => {
    const e = await run('bootstrap');
    expect(e.map((x) => [x.seq, x.operation, x.change])).toEqual([
      [1, 'bootstrap', 'registry'],
      [2, 'bootstrap', 'registry'],
      [3, 'bootstrap', 'truststore'],
    ]);
    expect(arn).toMatch(/^arn:aws:/);
    for (const x of e) expect(x).toMatchObject({ actor: arn, version: pkg.version, command: ['ca', 'bootstrap'] });
    const head = (await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: AUDIT_HEAD_KEY } }, ConsistentRead: true }))).Item!;
    expect(head.seq!.N).toBe('3');
    // the head also carries the last published version the trail records: a publication left unrecorded is noticed without a scan
    expect(head.truststoreVersion!.S).toBe((e[2] as Event & { truststoreVersion: string }).truststoreVersion);
    const third = (await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: auditKey(3) } }, ConsistentRead: true }))).Item!;
    expect(JSON.parse(third.event!.S!).hash).toBe(head.hash!.S);
  }, 60_000);

  it('issue-client (key, CSR, PKCS#12): one event each; the PKCS#12 password never stored', async () => {
    expect(await run('issue-client', 'acme')).toMatchObject([{ operation: 'issue-client', clientIds: ['acme'] }]);
    expect(await run('issue-client', 'partner', '--csr', 'partner.csr')).toMatchObject([{ clientIds: ['partner'] }]);
    expect(await run('issue-client', 'holder', '--p12', '--p12-password-file', 'p12.pass')).toMatchObject([
      { clientIds: ['holder'], command: ['ca', 'issue-client', 'holder', '--p12', '--p12-password-file', '[redacted]'] },
    ]);
    const text = JSON.stringify(await auditItems(table));
    for (const s of [P12_PASSWORD, PASSPHRASE, 'p12.pass', 'testing']) expect(text.includes(s), s).toBe(false);
  }, 60_000);

  it('issue-client --from and renew --all: one event per transaction, each client named once, within the room left beside the event', async () => {
    const from = await run('issue-client', '--from', 'clients.json', '--yes');
    // 60 creations of 2 actions each: 49 fit beside the audit event's 2 actions, so 2 transactions
    expect(from.map((x) => x.clientIds.length)).toEqual([49, 11]);
    expect(new Set(from.map((x) => x.run)).size).toBe(1);
    const renewed = await run('renew', '--all', '--p12-password-file', 'p12.pass');
    // 63 renewals of 3 actions each (new certificate, old one superseded, index): 32 per transaction
    expect(renewed.map((x) => x.clientIds.length)).toEqual([32, 31]);
    expect(renewed.flatMap((x) => x.clientIds).sort()).toEqual(['acme', 'holder', ...Array.from({ length: 60 }, (_, i) => `m${String(i).padStart(2, '0')}`), 'partner'].sort());
  }, 120_000);

  it('revoke, rotate-intermediate, retire-intermediate, truststore publish: their events; read-only commands none', async () => {
    expect(await run('revoke', 'acme', '--yes')).toMatchObject([{ operation: 'revoke', clientIds: ['acme'] }]);
    const rot = await run('rotate-intermediate', '--p12-password-file', 'p12.pass');
    expect(rot[0]).toMatchObject({ change: 'registry', serials: [expect.any(String), expect.any(String)] });
    expect(rot[1]).toMatchObject({ change: 'truststore' });
    expect(rot.filter((x) => x.change === 'registry').flatMap((x) => x.clientIds)).toHaveLength(62);
    expect(await run('retire-intermediate', '--force', '--yes')).toMatchObject([{ change: 'registry' }, { change: 'truststore' }]);
    expect(await run('truststore', 'publish')).toEqual([]);
    const before = await auditItems(table);
    for (const args of [['list'], ['status'], ['inspect', 'partner'], ['audit', 'verify'], ['truststore', 'verify']]) {
      const r = await ca(dir, args, env);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    const refused = await ca(dir, ['revoke', 'nobody', '--yes'], env);
    expect(refused.code).toBe(4);
    expect(await auditItems(table)).toEqual(before);
  }, 120_000);

  it('ca audit verify: intact, then an edited item, a deleted item and a cut tail are named by seq (exit 7)', async () => {
    const ok = await ca(dir, ['audit', 'verify', '--json'], env);
    expect(ok.code, ok.stderr).toBe(0);
    const n = ok.json().events;
    expect(ok.json()).toMatchObject({ ok: true, head: { seq: n } });
    const key = (seq: number) => ({ pk: { S: auditKey(seq) } });
    const get = async (seq: number) => (await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: key(seq), ConsistentRead: true }))).Item!;
    const verify = async () => {
      const r = await ca(dir, ['audit', 'verify', '--json'], env);
      expect(r.code, r.stderr).toBe(7);
      return r.json().firstBreak;
    };
    // an edited event
    const four = await get(4);
    const edited = { ...JSON.parse(four.event!.S!), actor: 'arn:aws:iam::000000000000:user/mallory' };
    await clients.dynamodb.send(new PutItemCommand({ TableName: table, Item: { ...four, event: { S: JSON.stringify(edited) } } }));
    expect(await verify()).toMatchObject({ seq: 4, reason: expect.stringMatching(/altered/) });
    await clients.dynamodb.send(new PutItemCommand({ TableName: table, Item: four }));
    // a deleted event
    const six = await get(6);
    await clients.dynamodb.send(new DeleteItemCommand({ TableName: table, Key: key(6) }));
    expect(await verify()).toMatchObject({ seq: 6, reason: expect.stringMatching(/missing/) });
    await clients.dynamodb.send(new PutItemCommand({ TableName: table, Item: six }));
    // the last event deleted: the head item still names it
    const last = await get(n);
    await clients.dynamodb.send(new DeleteItemCommand({ TableName: table, Key: key(n) }));
    expect(await verify()).toMatchObject({ seq: n, reason: expect.stringMatching(/missing: the store records/) });
    await clients.dynamodb.send(new PutItemCommand({ TableName: table, Item: last }));
    expect((await ca(dir, ['audit', 'verify'], env)).code).toBe(0);
  }, 120_000);
});

describe('DynamoDbRegistry: the chain head is moved conditionally', () => {
  const draft = (i: number, serials: string[] = [], clientIds: string[] = []): AuditDraft => ({
    time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
    operation: 'test',
    run: '0123456789abcdef',
    change: 'other',
    result: 'ok',
    serials,
    clientIds,
    actor: 'arn:aws:iam::123456789012:user/test',
    version: pkg.version,
    command: ['ca', 'test'],
  });

  it('two writers appending at once (each with a stale head) both land, chained, with no seq twice', async () => {
    const table = unique('ca-audit-race');
    await createTable(clients.dynamodb, table);
    const a = new DynamoDbRegistry({ client: clients.dynamodb, tableName: table });
    const b = new DynamoDbRegistry({ client: clients.dynamodb, tableName: table });
    await a.appendAudit(draft(0));
    // both read the head now, so each one's first attempt chains on seq 1
    await Promise.all([a.auditHead(), b.auditHead()]);
    const written = await Promise.all([a.appendAudit(draft(1)), b.appendAudit(draft(2)), a.appendAudit(draft(3))]);
    expect(written.map((e) => e.seq).sort()).toEqual([2, 3, 4]);
    const all = await a.auditEvents();
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    // (a fresh reader: each writer keeps the head it last moved)
    expect(verifyChain(all, await new DynamoDbRegistry({ client: clients.dynamodb, tableName: table }).auditHead()).ok).toBe(true);
  }, 60_000);

  it('a commit and its event are one transaction: a commit refused by its condition writes no event', async () => {
    const table = unique('ca-audit-tx');
    await createTable(clients.dynamodb, table);
    const reg = new DynamoDbRegistry({ client: clients.dynamodb, tableName: table });
    const c = fakeClient('x1', 'acme');
    await reg.commit([{ op: 'create', record: c }], { atomic: true, audit: draft(1, [c.serial], ['acme']) });
    // an update expecting a status the record does not have: refused, and the chain does not move
    const bad: RegistryChange = { op: 'update', expect: 'revoked', record: { ...c, status: 'superseded' } };
    await expect(reg.commit([bad], { atomic: true, audit: draft(2, [c.serial], ['acme']) })).rejects.toMatchObject({ code: 'conflict' });
    expect((await reg.auditEvents()).map((e) => e.seq)).toEqual([1]);
    // the same commit again (a retry after it landed): nothing new, no second event
    await reg.commit([{ op: 'create', record: c }], { atomic: true, audit: draft(3, [c.serial], ['acme']) });
    expect((await reg.auditEvents()).map((e) => e.seq)).toEqual([1]);
    expect(await reg.auditHead()).toMatchObject({ seq: 1 });
  }, 60_000);

  it('reserves two actions in every transaction for the event', () => {
    const changes: RegistryChange[] = Array.from({ length: 100 }, (_, i) => ({ op: 'create', record: fakeClient(`a${i}`, `c${i}`) }));
    expect(planCommit('t', changes, { audit: true }).map((tx) => tx.length)).toEqual([98, 98, 4]);
    expect(planCommit('t', changes).map((tx) => tx.length)).toEqual([100, 100]);
    expect(() => planCommit('t', changes.slice(0, 50), { atomic: true, audit: true })).toThrow(/audit event/);
    expect(planCommit('t', changes.slice(0, 49), { atomic: true, audit: true })[0]).toHaveLength(98);
  });
});
