import { describe, it, expect, beforeAll } from 'vitest';
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { CreateTableCommand, PutItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, PutObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { GetParametersByPathCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { DynamoDbGetItemReader, getItemReaderEnv } from '../../src/adapters/aws/dynamodb-reader.js';
import { createAuthorizer } from '../../src/lambda/authorizer.js';
import { startGateway } from '../../src/gateway/server.js';
import { caAsync as ca, openssl, tempDir } from '../helpers/cli.js';
import { legacyPki, type LegacyCert, type LegacyPki } from '../helpers/legacy-pki.js';
import { eventV2, clientCertOf } from '../lambda/events.js';
import { cliEnvFor, createBucket, createTable, unique, useMoto, REGION } from './moto-env.js';

/**
 * `ca import` on the real binary against moto: the test lays out the Python/Terraform setup itself (openssl-made
 * RSA-2048 CA and clients in its profile, SSM String/SecureString parameters, the metadata table with decimal
 * serials and its GSI, the versioned bucket), imports it, and checks the registry, the truststore, `openssl verify`,
 * the authorizer (with the Lambda's own DynamoDB reader) and the local mutual-TLS gateway driven by curl, on both
 * sides of a `ca rotate-intermediate`.
 */
const { endpoint, clients } = useMoto();
const OLD_PREFIX = `/${unique('apigw-mtls')}/sandbox`;
const OLD_TABLE = unique('mtls-clients-metadata');
const OLD_BUCKET = unique('old-truststore');

let pki: LegacyPki;
let alice: LegacyCert;
let bob: LegacyCert;
let carol: LegacyCert;
let mallory: LegacyCert;

const S = (s: string): AttributeValue => ({ S: s });

async function put(name: string, value: string, type: 'String' | 'SecureString') {
  await clients.ssm.send(new PutParameterCommand({ Name: name, Value: value, Type: type }));
}

async function oldLayout() {
  pki = legacyPki();
  alice = pki.client('alice', '123456789012345678901234567890');
  bob = pki.client('bob', '4242');
  carol = pki.client('carol', '5001');
  mallory = pki.client('mallory', '777', { issuer: pki.foreign });
  for (const k of ['root', 'intermediate'] as const) {
    await put(`${OLD_PREFIX}/ca/${k}/private-key`, pki[k].privateKeyPem, 'SecureString');
    await put(`${OLD_PREFIX}/ca/${k}/certificate`, pki[k].certificatePem, k === 'root' ? 'String' : 'SecureString');
  }
  for (const [id, c] of [['alice', alice], ['bob', bob], ['carol', carol], ['mallory', mallory]] as const) {
    await put(`${OLD_PREFIX}/clients/${id}/private-key`, c.privateKeyPem, 'SecureString');
    await put(`${OLD_PREFIX}/clients/${id}/certificate`, c.certificatePem, 'String');
  }
  await clients.dynamodb.send(
    new CreateTableCommand({
      TableName: OLD_TABLE,
      AttributeDefinitions: [
        { AttributeName: 'serialNumber', AttributeType: 'S' },
        { AttributeName: 'status', AttributeType: 'S' },
        { AttributeName: 'issuedAt', AttributeType: 'S' },
      ],
      KeySchema: [{ AttributeName: 'serialNumber', KeyType: 'HASH' }],
      GlobalSecondaryIndexes: [{ IndexName: 'status-issuedAt-index', KeySchema: [{ AttributeName: 'status', KeyType: 'HASH' }, { AttributeName: 'issuedAt', KeyType: 'RANGE' }], Projection: { ProjectionType: 'ALL' } }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
  const row = (c: LegacyCert, id: string, status: string) => ({
    serialNumber: S(c.serialNumber),
    client_id: S(id),
    clientName: S(id),
    status: S(status),
    issuedAt: S(new Date(new X509Certificate(c.certificatePem).validFrom).toISOString()),
    expiry: S(new Date(new X509Certificate(c.certificatePem).validTo).toISOString()),
    ttl: { N: String(Math.floor(Date.parse(new X509Certificate(c.certificatePem).validTo) / 1000)) },
  });
  const items = [
    row(alice, 'alice', 'active'),
    row(bob, 'bob', 'revoked'),
    row(carol, 'carol', 'suspended'),
    row(mallory, 'mallory', 'active'),
    { serialNumber: S('not-a-serial'), status: S('active'), issuedAt: S('2026-01-01T00:00:00Z') },
  ];
  for (const Item of items) await clients.dynamodb.send(new PutItemCommand({ TableName: OLD_TABLE, Item }));
  await createBucket(clients.s3, OLD_BUCKET);
  await clients.s3.send(new PutObjectCommand({ Bucket: OLD_BUCKET, Key: 'truststore.pem', Body: pki.intermediate.certificatePem + pki.root.certificatePem }));
}

async function ourStore(custody: 'ssm' | 'kms' = 'ssm', prefix = `/${unique('ca')}`) {
  const bucket = unique('ca-import');
  const table = unique('ca-import');
  await createBucket(clients.s3, bucket);
  await createTable(clients.dynamodb, table);
  return {
    bucket,
    table,
    prefix,
    env: { ...cliEnvFor(endpoint, bucket, table, { CA_AWS_PARAMETER_PREFIX: prefix, CA_AWS_KEY_CUSTODY: custody }), CA_PASSPHRASE: undefined },
  };
}

const hexSerial = (c: LegacyCert) => BigInt(c.serialNumber).toString(16);

async function registryItems(table: string) {
  const r = await clients.dynamodb.send(new ScanCommand({ TableName: table, ConsistentRead: true }));
  return (r.Items ?? []).filter((i) => i.pk?.S?.startsWith('CERT#'));
}

async function truststoreOf(bucket: string): Promise<string | undefined> {
  const v = await clients.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'truststore.pem' }));
  if (!(v.Versions ?? []).length) return undefined;
  const r = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'truststore.pem' }));
  return r.Body!.transformToString();
}

/** Every parameter under `path`, decrypted, by name. */
async function parameters(path: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  let NextToken: string | undefined;
  for (let page = 0; page < 20; page++) {
    const r = await clients.ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: true, WithDecryption: true, NextToken }));
    for (const p of r.Parameters ?? []) out.set(p.Name!, p.Value!);
    NextToken = r.NextToken;
    if (!NextToken) return out;
  }
  throw new Error(`more than 20 pages of parameters under ${path}`);
}

function verify(dir: string, truststore: string, certificatePem: string): { code: number; out: string } {
  writeFileSync(join(dir, 'ts.pem'), truststore);
  writeFileSync(join(dir, 'leaf.pem'), certificatePem);
  return openssl(['verify', '-purpose', 'sslclient', '-CAfile', 'ts.pem', 'leaf.pem'], dir);
}

function authorizer(table: string) {
  const reader = new DynamoDbGetItemReader({ tableName: table, region: REGION, ...getItemReaderEnv(process.env, REGION), timeoutMs: 5_000 });
  const logs: Record<string, unknown>[] = [];
  const run = createAuthorizer({ registry: reader, config: { cacheTtlMs: 0, responseMode: 'simple' }, log: (e) => logs.push(e as Record<string, unknown>) });
  return async (pem: string) => {
    const r = (await run(eventV2(clientCertOf(pem, 'decimal')))) as { isAuthorized: boolean; context: Record<string, unknown> };
    return { ...r, reason: logs[logs.length - 1]!.reason };
  };
}

/**
 * The local mutual-TLS gateway (src/gateway) with our truststore and the authorizer on our registry, and curl
 * presenting `certificatePem` with the key the client already holds: the HTTP status and the context it got.
 */
async function throughGateway(dir: string, table: string, truststorePem: string, certificatePem: string, keyPem: string) {
  // a throwaway server certificate for localhost: the gateway's own, trusted by curl directly
  const made = openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.pem', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], dir);
  if (made.code !== 0) throw new Error(`openssl: ${made.out}`);
  writeFileSync(join(dir, 'client.pem'), certificatePem);
  writeFileSync(join(dir, 'client.key'), keyPem, { mode: 0o600 });
  const reader = new DynamoDbGetItemReader({ tableName: table, region: REGION, ...getItemReaderEnv(process.env, REGION), timeoutMs: 5_000 });
  const g = await startGateway({
    registry: reader,
    truststorePem,
    serverCertPem: readFileSync(join(dir, 'server.pem'), 'utf8'),
    serverKeyPem: readFileSync(join(dir, 'server.key'), 'utf8'),
    port: 0,
    host: '127.0.0.1',
    cacheTtlMs: 0,
    log: () => {},
  });
  try {
    const args = ['-sS', '--max-time', '20', '--cacert', join(dir, 'server.pem'), '--cert', join(dir, 'client.pem'), '--key', join(dir, 'client.key'), '-o', '-', '-w', '\n%{http_code}', `${g.url}orders`];
    const out = await new Promise<string>((resolve) => execFile('curl', args, { encoding: 'utf8' }, (_e, stdout) => resolve(stdout)));
    const i = out.lastIndexOf('\n');
    const body = out.slice(0, i);
    return { status: out.slice(i + 1), context: (body.startsWith('{') ? JSON.parse(body).context : undefined) as Record<string, unknown> | undefined };
  } finally {
    await g.close();
  }
}

beforeAll(oldLayout, 120_000);

describe('ca import from the Python/Terraform layout', () => {
  const dir = tempDir('ca-import-');
  let e: Awaited<ReturnType<typeof ourStore>>;
  const run = (...args: string[]) => ca(dir, [...args, '--json'], e.env);
  const importArgs = () => ['import', '--ssm-prefix', OLD_PREFIX, '--table', OLD_TABLE, '--bucket', OLD_BUCKET];

  beforeAll(async () => {
    // our parameter prefix is the old one: `--deliver ssm` then puts re-issued certificates where clients fetch them
    e = await ourStore('ssm', OLD_PREFIX);
  });

  // first: the main test's rotation puts a new certificate in the old layout's /clients/alice/certificate
  it('reports in words what a dry run would adopt and refuse', async () => {
    const o = await ourStore();
    const r = await ca(dir, [...importArgs(), '--dry-run'], o.env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^dry run: would import the CA into AWS/m);
    expect(r.stdout).toMatch(/would adopt 2 client certificate\(s\), refused 3/);
    expect(r.stdout).toMatch(/refused mallory \(serialNumber 777\): does_not_chain/);
    expect(r.stdout).not.toContain('PRIVATE KEY');
  }, 60_000);

  it('adopts the CA and its clients, refuses what it must, is idempotent, and the clients pass the authorizer and the gateway before and after a rotation', async () => {
    // --dry-run: the report, and nothing written anywhere
    const before = await parameters(OLD_PREFIX);
    expect(before.size).toBe(12);
    const dry = await run(...importArgs(), '--dry-run');
    expect(dry.code, dry.stderr).toBe(0);
    const d = dry.json();
    expect(d).toMatchObject({ dryRun: true, files: [], ca: 'created' });
    expect(d.adopted.map((c: { clientId: string; status: string }) => [c.clientId, c.status])).toEqual([['alice', 'active'], ['bob', 'revoked']]);
    expect(d.refused.map((r: { serialNumber: string; reason: string }) => [r.serialNumber, r.reason]).sort()).toEqual([['5001', 'unknown_status'], ['777', 'does_not_chain'], ['not-a-serial', 'malformed_item']]);
    expect(await registryItems(e.table)).toEqual([]);
    expect(await truststoreOf(e.bucket)).toBeUndefined();
    expect(await parameters(OLD_PREFIX)).toEqual(before);

    const first = await run(...importArgs());
    expect(first.code, first.stderr).toBe(0);
    const f = first.json();
    expect(f).toMatchObject({ dryRun: false, ca: 'created', oldTruststoreMatches: true, truststore: { changed: true } });
    expect(f.files).toEqual([
      expect.stringMatching(new RegExp(`^${OLD_PREFIX}/ca/root-imported-[0-9a-f]{12}$`)),
      expect.stringMatching(new RegExp(`^${OLD_PREFIX}/ca/intermediate-imported-[0-9a-f]{12}$`)),
      `s3://${e.bucket}/truststore.pem`,
    ]);
    expect(f.adopted.map((c: { clientId: string }) => c.clientId)).toEqual(['alice', 'bob']);
    expect(f.profile).toMatchObject({ organization: 'Apigw Mtls', caName: 'apigw-mtls', caKeyType: 'rsa-2048', clientKeyType: 'rsa-2048', rootValidityDays: 3650, intermediateValidityDays: 1825 });

    // a second run adopts nothing new and publishes nothing new
    const second = await run(...importArgs());
    expect(second.code, second.stderr).toBe(0);
    const s = second.json();
    expect(s).toMatchObject({ ca: 'already', adopted: [], files: [], truststore: { changed: false } });
    expect(s.already.map((a: { clientId: string }) => a.clientId).sort()).toEqual(['alice', 'bob']);
    expect(s.refused).toHaveLength(3);

    // the audit trail: the first run's CA, adopted clients and publication, one event each; the second run none
    const audit = await run('audit');
    expect(audit.code, audit.stderr).toBe(0);
    const events = audit.json().events;
    expect(events.map((x: { operation: string; change: string }) => [x.operation, x.change])).toEqual([
      ['import', 'registry'],
      ['import', 'registry'],
      ['import', 'truststore'],
    ]);
    expect(events[0].serials.sort()).toEqual((await registryItems(e.table)).filter((i) => i.kind!.S !== 'client').map((i) => i.serial!.S!).sort());
    expect(events[1].clientIds).toEqual(['alice', 'bob']);
    expect((await run('audit', 'verify')).code).toBe(0);

    // the registry: the CA (root carries its profile) and the two clients, each saying where it came from
    const items = await registryItems(e.table);
    expect(items).toHaveLength(4);
    const bySerial = new Map(items.map((i) => [i.serial!.S!, i]));
    expect(bySerial.get('3e9')).toMatchObject({ kind: S('root'), importedFrom: S(`${OLD_PREFIX}/ca/root/certificate`) });
    expect(JSON.parse(bySerial.get('3e9')!.profile!.S!)).toMatchObject({ caName: 'apigw-mtls' });
    expect(bySerial.get(hexSerial(alice))).toMatchObject({ kind: S('client'), status: S('active'), clientId: S('alice'), issuerSerial: S('3ea'), importedFrom: S(`${OLD_TABLE}#${alice.serialNumber}`) });
    expect(bySerial.get(hexSerial(bob))).toMatchObject({ status: S('revoked') });

    // the CA keys are in our SSM custody, the only parameters the import wrote; no client key was copied
    const after = await parameters(OLD_PREFIX);
    const added = [...after.keys()].filter((k) => !before.has(k)).map((k) => k.slice(OLD_PREFIX.length)).sort();
    expect(added).toEqual([expect.stringMatching(/^\/ca\/intermediate-imported-[0-9a-f]{12}$/), expect.stringMatching(/^\/ca\/root-imported-[0-9a-f]{12}$/)]);
    for (const [k, v] of before) expect(after.get(k)).toBe(v);
    const spki = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'der' }).toString('base64');
    expect(spki(after.get(`${OLD_PREFIX}${added[0]}`)!)).toBe(spki(pki.intermediate.privateKeyPem));
    expect(spki(after.get(`${OLD_PREFIX}${added[1]}`)!)).toBe(spki(pki.root.privateKeyPem));
    expect(JSON.stringify(items)).not.toContain('PRIVATE KEY');

    // our truststore is the old intermediate then root: the old client certificates verify against it
    const ts = (await truststoreOf(e.bucket))!;
    expect(ts.replace(/\s+/g, '')).toBe((pki.intermediate.certificatePem + pki.root.certificatePem).replace(/\s+/g, ''));
    expect(verify(dir, ts, alice.certificatePem)).toMatchObject({ code: 0 });
    expect(verify(dir, ts, mallory.certificatePem).code).not.toBe(0);

    // the authorizer, reading our registry as the Lambda does: alice in, with the old context keys beside ours
    const authorize = authorizer(e.table);
    const a = await authorize(alice.certificatePem);
    expect(a.isAuthorized, String(a.reason)).toBe(true);
    const x = new X509Certificate(alice.certificatePem);
    expect(a.context).toMatchObject({
      clientId: 'alice',
      serial: hexSerial(alice),
      serialNumber: alice.serialNumber,
      clientCN: 'alice',
      validityNotBefore: new Date(x.validFrom).toISOString(),
      validityNotAfter: new Date(x.validTo).toISOString(),
    });
    expect(await authorize(bob.certificatePem)).toMatchObject({ isAuthorized: false, reason: 'revoked' });
    expect(await authorize(carol.certificatePem)).toMatchObject({ isAuthorized: false, reason: 'unknown_serial' });
    expect(await authorize(mallory.certificatePem)).toMatchObject({ isAuthorized: false, reason: 'unknown_serial' });
    // and through a mutual-TLS handshake with our truststore: the old certificate and key as the client has them
    expect(await throughGateway(dir, e.table, ts, alice.certificatePem, alice.privateKeyPem)).toMatchObject({ status: '200', context: { clientId: 'alice', serialNumber: alice.serialNumber, clientCN: 'alice' } });
    expect(await throughGateway(dir, e.table, ts, bob.certificatePem, bob.privateKeyPem)).toMatchObject({ status: '403' });

    // rotation: alice moves to our profile; her old certificate stays accepted in grace
    const rot = await run('rotate-intermediate', '--deliver', 'ssm');
    expect(rot.code, rot.stderr).toBe(0);
    const r = rot.json();
    expect(r.reissued.map((c: { clientId: string }) => c.clientId)).toEqual(['alice']);
    // delivered where the old setup's clients fetch it, beside the private key they already have (untouched)
    const delivered = await parameters(`${OLD_PREFIX}/clients/alice`);
    const next = delivered.get(`${OLD_PREFIX}/clients/alice/certificate`)!;
    expect(next).not.toBe(alice.certificatePem);
    expect(delivered.get(`${OLD_PREFIX}/clients/alice/private-key`)).toBe(alice.privateKeyPem);
    const nx = new X509Certificate(next);
    expect(nx.publicKey.export({ type: 'spki', format: 'der' }).equals(x.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
    writeFileSync(join(dir, 'next.pem'), next);
    const shown = openssl(['x509', '-in', 'next.pem', '-noout', '-text'], dir).out;
    expect(shown).toContain('TLS Web Client Authentication');
    expect(shown).toContain('Subject Key Identifier');
    expect(shown).toContain('Authority Key Identifier');
    const ts2 = (await truststoreOf(e.bucket))!;
    expect(ts2.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect(verify(dir, ts2, next)).toMatchObject({ code: 0 });
    expect(verify(dir, ts2, alice.certificatePem)).toMatchObject({ code: 0 });
    const n = await authorize(next);
    expect(n.isAuthorized, String(n.reason)).toBe(true);
    expect(n.context).toMatchObject({ clientId: 'alice', serialNumber: BigInt(`0x${nx.serialNumber}`).toString(10), clientCN: 'alice' });
    expect(await authorize(alice.certificatePem)).toMatchObject({ isAuthorized: true, reason: 'superseded_in_grace' });
    expect(await throughGateway(dir, e.table, ts2, next, alice.privateKeyPem)).toMatchObject({ status: '200', context: { clientId: 'alice', clientCN: 'alice' } });
    expect(await throughGateway(dir, e.table, ts2, alice.certificatePem, alice.privateKeyPem)).toMatchObject({ status: '200' });
    expect(await authorize(bob.certificatePem)).toMatchObject({ isAuthorized: false, reason: 'revoked' });

    // importing again after the rotation changes nothing: alice's old item is already imported
    const third = await run(...importArgs());
    expect(third.code, third.stderr).toBe(0);
    expect(third.json()).toMatchObject({ ca: 'already', adopted: [], truststore: { changed: false } });
    expect(third.json().already.map((a: { clientId: string }) => a.clientId).sort()).toEqual(['alice', 'bob']);
  }, 240_000);

  it('refuses, changing nothing, to import into a store that has a CA of its own', async () => {
    const o = await ourStore();
    const b = await ca(dir, ['bootstrap', '--json'], o.env);
    expect(b.code, b.stderr).toBe(0);
    const items = await registryItems(o.table);
    const published = await truststoreOf(o.bucket);
    const r = await ca(dir, importArgs(), o.env);
    expect(r.code, r.stderr).toBe(5);
    expect(r.stderr).toMatch(/already holds another CA/);
    expect(await registryItems(o.table)).toEqual(items);
    expect(await truststoreOf(o.bucket)).toBe(published);
    expect([...(await parameters(o.prefix)).keys()].some((k) => k.includes('-imported-'))).toBe(false);
  }, 60_000);

  it('refuses, changing nothing, when the store keeps its CA keys in KMS', async () => {
    const k = await ourStore('kms');
    const r = await ca(dir, [...importArgs(), '--json'], k.env);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/kms key custody cannot take the old CA's existing private keys/);
    expect(r.json().error).toMatchObject({ code: 'usage', exitCode: 2 });
    expect(await registryItems(k.table)).toEqual([]);
    expect(await truststoreOf(k.bucket)).toBeUndefined();
  }, 60_000);
});
