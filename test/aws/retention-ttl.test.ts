import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { DynamoDbRegistry } from '../../src/adapters/aws/dynamodb-registry.js';
import { TTL_ATTRIBUTE, certKey } from '../../src/adapters/aws/dynamodb-codec.js';
import { DynamoDbGetItemReader } from '../../src/adapters/aws/dynamodb-reader.js';
import { createAuthorizer } from '../../src/lambda/authorizer.js';
import { renew } from '../../src/domain/issuance.js';
import { revoke } from '../../src/domain/revocation.js';
import type { CertificateRecord } from '../../src/ports.js';
import { fakeRecord } from '../helpers/records.js';
import { cliEnvFor, createBucket, createTable, unique, useMoto, REGION } from './moto-env.js';
import { ca, tempDir } from '../helpers/cli.js';
import { at, DAY, makePki, type TestPki } from '../lambda/pki.js';
import { clientCertOf, eventV2 } from '../lambda/events.js';

/**
 * The AWS store's retention: every record written carries the TTL attribute `expiresAt` (epoch seconds, a number)
 * when it is ever cleaned up, read back raw from moto's DynamoDB. moto does not delete expired items (nor does
 * DynamoDB promptly): the authorizer must refuse such a record by itself, which the last test checks.
 */
let endpoint: string;
let client: DynamoDBClient;
let table: string;

const raw = async (serial: string, tableName = table): Promise<Record<string, AttributeValue>> =>
  (await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: certKey(serial) } }, ConsistentRead: true }))).Item!;
const epoch = (iso: string, days: number) => String(Math.ceil((Date.parse(iso) + days * DAY) / 1000));

beforeAll(async () => {
  endpoint = useMoto().endpoint;
  client = new DynamoDBClient({ region: REGION });
  table = unique('ca-ttl');
  await createTable(client, table);
});

describe('the DynamoDB TTL attribute', () => {
  it('is absent on active and CA records, and set on a record when it is superseded or revoked', async () => {
    const reg = new DynamoDbRegistry({ client, tableName: table, retentionDays: 30 });
    const inter = fakeRecord({ kind: 'intermediate', clientId: 'intermediate', status: 'superseded' });
    const alice = fakeRecord({ clientId: 'ttl-alice' });
    const bob = fakeRecord({ clientId: 'ttl-bob' });
    await reg.commit([{ op: 'create', record: inter }, { op: 'create', record: alice }, { op: 'create', record: bob }]);
    expect((await raw(inter.serial))[TTL_ATTRIBUTE]).toBeUndefined();
    expect((await raw(alice.serial))[TTL_ATTRIBUTE]).toBeUndefined();

    const next = fakeRecord({ clientId: 'ttl-alice' });
    const graceUntil = '2026-03-08T12:00:00.000Z';
    const old: CertificateRecord = { ...alice, status: 'superseded', supersededBy: next.serial, supersededAt: '2026-03-01T12:00:00.000Z', graceUntil };
    await reg.commit([{ op: 'create', record: next }, { op: 'update', record: old, expect: 'active' }]);
    // from the end of grace, not from notAfter (a year later)
    expect((await raw(alice.serial))[TTL_ATTRIBUTE]).toEqual({ N: epoch(graceUntil, 30) });
    expect((await raw(next.serial))[TTL_ATTRIBUTE]).toBeUndefined();

    await reg.commit([{ op: 'update', record: { ...bob, status: 'revoked', revokedAt: '2026-03-02T00:00:00.000Z', revocationReason: 'keyCompromise' }, expect: 'active' }]);
    // from notAfter: a CRL lists a revoked certificate until it expires
    expect((await raw(bob.serial))[TTL_ATTRIBUTE]).toEqual({ N: epoch(bob.notAfter, 30) });
    // the attribute is no field of the record: reads give back exactly what was written
    expect(await reg.get(bob.serial)).toEqual({ ...bob, status: 'revoked', revokedAt: '2026-03-02T00:00:00.000Z', revocationReason: 'keyCompromise' });
  });

  it('defaults to 90 days', async () => {
    const reg = new DynamoDbRegistry({ client, tableName: table });
    const r = fakeRecord({ clientId: 'ttl-default', status: 'revoked', revokedAt: '2026-03-02T00:00:00.000Z' });
    await reg.commit([{ op: 'create', record: r }]);
    expect((await raw(r.serial))[TTL_ATTRIBUTE]).toEqual({ N: epoch(r.notAfter, 90) });
  });
});

describe('the authorizer does not rely on TTL deletion', () => {
  let pki: TestPki;
  afterAll(() => pki?.cleanup());

  it('refuses records past their expiresAt that DynamoDB has not deleted yet', async () => {
    pki = await makePki({ name: 'ca-ttl-authz', policy: { graceDays: 1 } });
    const first = (await pki.issue('carol')).record;
    await renew(pki.ctx(at(DAY)), { clientId: 'carol' });
    const dave = (await pki.issue('dave')).record;
    await revoke(pki.ctx(at(DAY)), { clientId: 'dave' });
    const reg = new DynamoDbRegistry({ client, tableName: table, retentionDays: 1 });
    const order = { root: 0, intermediate: 1, client: 2 } as const;
    for (const r of (await pki.store.registry.list()).sort((a, b) => order[a.kind] - order[b.kind])) await reg.commit([{ op: 'create', record: r }], { atomic: true });

    // four days on: carol's first certificate is a day past its expiresAt, still in the table
    const now = at(4 * DAY);
    const ttl = Number((await raw(first.serial))[TTL_ATTRIBUTE]!.N);
    expect(ttl * 1000).toBeLessThan(now.getTime());
    expect(Number((await raw(dave.serial))[TTL_ATTRIBUTE]!.N) * 1000).toBeGreaterThan(Date.parse(dave.notAfter));
    const reader = new DynamoDbGetItemReader({ tableName: table, region: REGION, endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, timeoutMs: 2000 });
    const run = createAuthorizer({ registry: reader, clock: { now: () => now }, config: { cacheTtlMs: 0, responseMode: 'simple' }, log: () => {} });
    const decide = async (pem: string) => (await run(eventV2(clientCertOf(pem)))) as { isAuthorized: boolean; context: { reason?: string } };
    const old = await decide(first.certificatePem);
    expect(old.isAuthorized).toBe(false);
    expect(old.context.reason).toBe('superseded_grace_ended');
    const current = (await pki.store.registry.list({ clientId: 'carol', status: 'active' }))[0]!;
    expect((await decide(current.certificatePem)).isAuthorized).toBe(true);
    expect((await decide(dave.certificatePem)).context.reason).toBe('revoked');
  });
});

describe('the real binary on the AWS store', () => {
  it('writes expiresAt from retentionDays (CA_RETENTION_DAYS); ca compact and ca list --all say DynamoDB TTL cleans up', async () => {
    const { clients } = useMoto();
    const bucket = unique('ca-ttl-cli');
    const tbl = unique('ca-ttl-cli');
    await createBucket(clients.s3, bucket);
    await createTable(client, tbl);
    const dir = tempDir('ca-ttl-cli-');
    const env = cliEnvFor(endpoint, bucket, tbl, { CA_RETENTION_DAYS: '30' });
    for (const args of [['bootstrap'], ['issue-client', 'erin', '--deliver', 'ssm'], ['renew', 'erin', '--deliver', 'ssm']]) {
      const r = ca(dir, [...args, '--yes'], env);
      expect(r.code, r.stderr).toBe(0);
    }
    const all = ca(dir, ['list', '--all', '--json'], env).json();
    const old = all.certificates.find((c: any) => c.status === 'superseded');
    expect((await raw(old.serial, tbl))[TTL_ATTRIBUTE]).toEqual({ N: epoch(old.graceUntil, 30) });
    expect(all.cleanedUp).toEqual({ method: 'dynamodb-ttl', retentionDays: 30, archived: null, awaitingCleanup: 0 });
    const p = ca(dir, ['compact', '--json'], env);
    expect(p.code, p.stderr).toBe(0);
    expect(p.json()).toEqual({ dryRun: false, retentionDays: 30, method: 'dynamodb-ttl', archive: null, cleaned: [], files: [] });
  });
});
