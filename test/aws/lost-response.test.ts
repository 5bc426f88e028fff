/**
 * A write whose answer is lost: DynamoDB applied it, the connection dropped before the answer arrived, the SDK
 * retried. Through a loopback proxy in front of moto that forwards each request, lets moto answer, then drops
 * the connection for chosen (or seeded) requests, every commit and command must succeed exactly once.
 *
 * moto 5.2.5 ignores ClientRequestToken (dynamodb/responses.py transact_write_items never reads it), so against
 * moto a retried transaction that landed fails its conditions: that is the case the registry must recognise as
 * its own success. DynamoDB's token semantics themselves are played by the proxy (`honourTokens`), a stand-in
 * for exactly that part, and said so where used.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createPublicKey, verify } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { SsmKeyCustody } from '../../src/adapters/aws/ssm-key-custody.js';
import { DynamoDbRegistry, planCommit, transactionToken } from '../../src/adapters/aws/dynamodb-registry.js';
import { fixedClock } from '../../src/domain/context.js';
import { CaError } from '../../src/domain/errors.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import { revoke } from '../../src/domain/revocation.js';
import type { CertificateRecord, RegistryChange, Store } from '../../src/ports.js';
import { caAsync as ca, tempDir } from '../helpers/cli.js';
import { startLossyProxy, seeded, type LossyProxy, type LossyProxyOptions } from './lossy-proxy.js';
import { cliEnvFor, createBucket, createTable, unique, useMoto, REGION } from './moto-env.js';
import { fakeRecord as record } from '../helpers/records.js';

const { endpoint, clients } = useMoto();
const proxies: LossyProxy[] = [];
afterEach(async () => {
  while (proxies.length) await proxies.pop()!.close();
});

async function proxy(o: Omit<LossyProxyOptions, 'upstream'>): Promise<LossyProxy> {
  const p = await startLossyProxy({ upstream: endpoint, ...o });
  proxies.push(p);
  return p;
}

/** A registry whose DynamoDB client talks to the proxy; `direct` reads the same table from moto itself. */
async function registries(p: LossyProxy) {
  const tableName = unique('lost');
  await createTable(clients.dynamodb, tableName);
  const client = new DynamoDBClient({ region: REGION, endpoint: p.endpoint, maxAttempts: 6 });
  return { lossy: new DynamoDbRegistry({ client, tableName }), direct: new DynamoDbRegistry({ client: clients.dynamodb, tableName }) };
}


const sorted = (rs: CertificateRecord[]) => [...rs].sort((a, b) => a.serial.localeCompare(b.serial));
const transactions = (p: LossyProxy) => p.requests.filter((r) => r.operation === 'TransactWriteItems');

/** Issue, rotate, a two-transaction batch, and a revocation in two commits. */
async function lifecycle(lossy: DynamoDbRegistry) {
  const a1 = record({ clientId: 'a' });
  await lossy.commit([{ op: 'create', record: a1 }], { atomic: true });
  const a2 = record({ clientId: 'a' });
  const sup = { ...a1, status: 'superseded' as const, supersededBy: a2.serial, supersededAt: '2026-04-01T00:00:00.000Z', graceUntil: '2026-12-01T00:00:00.000Z' };
  await lossy.commit([{ op: 'create', record: a2 }, { op: 'update', expect: 'active', record: sup }], { atomic: true });
  const batch = Array.from({ length: 60 }, (_, i) => record({ clientId: `b-${i}` }));
  await lossy.commit(batch.map((r) => ({ op: 'create', record: r }) as RegistryChange));
  // 60 certificates of one client: revoked in two commits (50 + 10)
  const many = Array.from({ length: 59 }, () => record({ clientId: 'm', status: 'superseded', graceUntil: '2026-12-01T00:00:00.000Z' }));
  await lossy.commit(many.map((r) => ({ op: 'create', record: r })));
  const mActive = record({ clientId: 'm' });
  await lossy.commit([{ op: 'create', record: mActive }]);
  const r = await revoke({ store: { registry: lossy } as unknown as Store, clock: fixedClock('2026-06-01T00:00:00.000Z'), policy: DEFAULT_POLICY }, { clientId: 'm', reason: 'keyCompromise' });
  expect(r.revoked).toHaveLength(60);
  return { a1, a2, sup, batch, many: [mActive, ...many] };
}

async function expectLifecycleState(direct: DynamoDbRegistry, s: Awaited<ReturnType<typeof lifecycle>>) {
  expect(sorted(await direct.list({ clientId: 'a' }))).toEqual(sorted([s.a2, s.sup]));
  expect(await direct.list({ clientId: 'a', status: 'active' })).toEqual([s.a2]);
  expect(sorted(await direct.list({ status: 'active' }))).toEqual(sorted([s.a2, ...s.batch]));
  const m = await direct.list({ clientId: 'm' });
  expect(m).toHaveLength(60);
  expect(m.every((x) => x.status === 'revoked' && x.revocationReason === 'keyCompromise')).toBe(true);
}

describe('a registry write whose answer is lost', () => {
  it('is retried under the same token and recognised as its own success when the server ignores the token (moto)', async () => {
    // every first attempt of a transaction lands in moto, and its answer is lost
    const p = await proxy({ drop: (r) => r.operation === 'TransactWriteItems' && r.seen === 0 });
    const { lossy, direct } = await registries(p);
    const s = await lifecycle(lossy);
    await expectLifecycleState(direct, s);
    const tx = transactions(p);
    // issue, rotation, batch (2: 60 clients are 120 writes), 59 superseded of m, its active one, revocation (2: 50 + 10), each sent twice
    expect(tx).toHaveLength(2 * 8);
    const byToken = new Map<string, typeof tx>();
    for (const t of tx) byToken.set(t.token!, [...(byToken.get(t.token!) ?? []), t]);
    expect(byToken.size).toBe(8);
    for (const attempts of byToken.values()) {
      expect(attempts.map((a) => a.dropped)).toEqual([true, false]);
      // moto applied the first and refused the second's conditions: the registry read back and saw its own writes
      expect(attempts[1]!.status).toBe(400);
    }
    // one consistent read-back per transaction, besides the two of revoke's look-up of the client
    expect(p.requests.filter((r) => r.operation === 'BatchGetItem')).toHaveLength(8 + 2);
    expect(p.requests.length).toBeLessThan(60);
  }, 120_000);

  it('is answered from its token by a server that honours it (stand-in for DynamoDB), nothing re-read', async () => {
    // the proxy plays DynamoDB's documented ClientRequestToken idempotency, which moto 5.2.5 lacks
    const p = await proxy({ honourTokens: true, drop: (r) => r.operation === 'TransactWriteItems' && r.seen === 0 });
    const { lossy, direct } = await registries(p);
    const s = await lifecycle(lossy);
    await expectLifecycleState(direct, s);
    const tx = transactions(p);
    expect(tx).toHaveLength(2 * 8);
    expect(tx.filter((t) => t.fromToken)).toHaveLength(8);
    expect(tx.filter((t) => !t.fromToken && !t.dropped)).toHaveLength(0);
    // only revoke's look-up of the client (index item, then its certificates)
    expect(p.requests.filter((r) => r.operation === 'BatchGetItem')).toHaveLength(2);
  }, 120_000);

  it('still reports a real conflict: only a transaction wholly in place counts as its own', async () => {
    const p = await proxy({ drop: (r) => r.operation === 'TransactWriteItems' && r.seen === 0 });
    const { lossy, direct } = await registries(p);
    const a = record({ clientId: 'c' });
    await direct.commit([{ op: 'create', record: a }]);
    // the same serial with other content, and a second active certificate: both are somebody else's state
    const e1 = await lossy.commit([{ op: 'create', record: { ...a, fingerprint: 'f'.repeat(64) } }]).then(() => undefined, (x: unknown) => x);
    expect(e1).toBeInstanceOf(CaError);
    expect((e1 as CaError).message).toBe(`serial ${a.serial} is already in the registry`);
    const e2 = await lossy.commit([{ op: 'create', record: record({ clientId: 'c' }) }]).then(() => undefined, (x: unknown) => x);
    expect((e2 as CaError).code).toBe('conflict');
    expect((e2 as CaError).message).toBe(`client c already has an active certificate (serial ${a.serial})`);
    expect(await direct.list()).toEqual([a]);
  });

  it('names its writes: the token is a function of the transaction, at most 36 characters', () => {
    const changes: RegistryChange[] = [{ op: 'create', record: record({ serial: 'ab12' }) }];
    const [items] = planCommit('t', changes, { atomic: true });
    const [again] = planCommit('t', structuredClone(changes), { atomic: true });
    const [other] = planCommit('t', [{ op: 'create', record: { ...changes[0]!.record, status: 'superseded' } }], { atomic: true });
    expect(transactionToken(items!)).toMatch(/^[0-9a-f]{36}$/);
    expect(transactionToken(again!)).toBe(transactionToken(items!));
    expect(transactionToken(other!)).not.toBe(transactionToken(items!));
  });
});

describe('an SSM CA key put whose answer is lost', () => {
  it('is recognised as stored: the parameter holds the very key the custody signs with', async () => {
    const p = await proxy({ drop: (r) => r.operation === 'PutParameter' && r.seen === 0 });
    const prefix = `/${unique('lost')}`;
    const custody = new SsmKeyCustody({ client: new SSMClient({ region: REGION, endpoint: p.endpoint, maxAttempts: 3 }), prefix });
    const { keyRef, signer } = await custody.create('root', 'ec-p256');
    const puts = p.requests.filter((r) => r.operation === 'PutParameter');
    expect(puts.map((r) => r.dropped)).toEqual([true, false]);
    // moto refused the retry (ParameterAlreadyExists); the custody read the parameter back and found its key
    expect(puts[1]!.status).toBe(400);
    const stored = (await clients.ssm.send(new GetParameterCommand({ Name: keyRef, WithDecryption: true }))).Parameter!;
    expect(stored.Version).toBe(1);
    const reopened = await new SsmKeyCustody({ client: clients.ssm, prefix }).open(keyRef, 'ec-p256');
    const data = Buffer.from('to be signed');
    const pub = createPublicKey({ key: Buffer.from(reopened.publicKeySpki), format: 'der', type: 'spki' });
    expect(verify('sha256', data, pub, Buffer.from(await signer.sign(data)))).toBe(true);
  });
});

describe('ca issue-client --from through a connection that loses answers', () => {
  it('succeeds exactly once per client when seeded answers are lost after DynamoDB applied them', async () => {
    const random = seeded(0x5eed10);
    // a seeded share of first attempts loses its answer: a quarter of the transactions, 5% of everything else
    const p = await proxy({ drop: (r) => r.seen === 0 && random() < (r.operation === 'TransactWriteItems' ? 0.25 : 0.05) });
    const dir = tempDir('ca-lost-');
    const bucket = unique('ca-lost');
    const table = unique('ca-lost');
    await createBucket(clients.s3, bucket);
    await createTable(clients.dynamodb, table);
    const env = cliEnvFor(endpoint, bucket, table);
    const boot = await ca(dir, ['bootstrap', '--json'], env);
    expect(boot.code, boot.stderr).toBe(0);
    const ids = Array.from({ length: 20 }, (_, i) => `lossy-${String(i).padStart(2, '0')}`);
    mkdirSync(join(dir, 'clients'));
    writeFileSync(join(dir, 'clients', 'lossy.json'), JSON.stringify({ clients: ids.map((client_id) => ({ client_id })) }));
    const lossyEnv = { ...env, AWS_ENDPOINT_URL_DYNAMODB: p.endpoint };
    const r = await ca(dir, ['issue-client', '--from', 'clients/lossy.json', '--json'], lossyEnv);
    expect(r.code, r.stderr).toBe(0);
    const issued = r.json<{ issued: { clientId: string; serial: string }[] }>().issued;
    expect(issued.map((i) => i.clientId).sort()).toEqual(ids);
    // the seed loses at least one committed transaction's answer, so the case really happened
    expect(transactions(p).filter((t) => t.dropped).length).toBeGreaterThan(0);
    expect(p.requests.length).toBeLessThan(400);

    // exactly one certificate per client, the one the command reported and delivered
    const direct = new DynamoDbRegistry({ client: clients.dynamodb, tableName: table });
    for (const i of issued) {
      const rs = await direct.list({ clientId: i.clientId });
      expect(rs.map((x) => [x.serial, x.status])).toEqual([[i.serial, 'active']]);
      expect(readFileSync(join(dir, 'bundles', i.clientId, `${i.clientId}.crt`), 'utf8')).toBe(rs[0]!.certificatePem);
    }
    const again = await ca(dir, ['issue-client', '--from', 'clients/lossy.json', '--json'], lossyEnv);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json<{ issued: unknown[] }>().issued).toHaveLength(0);
  }, 180_000);
});
