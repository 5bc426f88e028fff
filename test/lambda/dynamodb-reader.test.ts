import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server, type Socket } from 'node:net';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbRegistry } from '../../src/adapters/aws/dynamodb-registry.js';
import { DynamoDbGetItemReader, DynamoDbReadError, getItemReaderEnv } from '../../src/adapters/aws/dynamodb-reader.js';
import { RECORD_FIELDS } from '../../src/adapters/aws/dynamodb-codec.js';
import { createAuthorizer } from '../../src/lambda/authorizer.js';
import { composeAuthorizer } from '../../src/lambda/compose.js';
import type { CertificateRecord } from '../../src/ports.js';
import { createTable, unique, useMoto, REGION } from '../aws/moto-env.js';
import { at, makePki, type TestPki } from './pki.js';
import { clientCertOf, eventV2 } from './events.js';

let endpoint: string;
let client: DynamoDBClient;
let table: string;
let registry: DynamoDbRegistry;
let pki: TestPki;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };

const reader = (o: { tableName?: string; endpoint?: string; timeoutMs?: number } = {}) =>
  new DynamoDbGetItemReader({ tableName: o.tableName ?? table, region: REGION, endpoint: o.endpoint ?? endpoint, credentials, timeoutMs: o.timeoutMs ?? 2000 });

/** A record with every field set, including text DynamoDB's JSON must carry intact. */
function fullRecord(serial: string): CertificateRecord {
  const r: Record<string, string> = {};
  for (const f of RECORD_FIELDS) r[f] = `${f}-value "quoted" \\ ünïcödé ✓ \u0001`;
  return {
    ...(r as unknown as CertificateRecord),
    serial,
    kind: 'client',
    clientId: `reader-${serial}`,
    status: 'active',
    certificatePem: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n',
  };
}

beforeAll(async () => {
  endpoint = useMoto().endpoint;
  client = new DynamoDBClient({ region: REGION });
  table = unique('ca-reader');
  await createTable(client, table);
  registry = new DynamoDbRegistry({ client, tableName: table });
  pki = await makePki({ name: 'ca-reader' });
}, 180_000);

afterAll(() => pki?.cleanup());

describe('DynamoDbGetItemReader on moto', () => {
  it('reads back exactly what DynamoDbRegistry wrote, every field', async () => {
    const full = fullRecord('0a1b2c');
    // only the required fields: the optional ones must stay absent, not come back as empty strings
    const sparse: CertificateRecord = { ...fullRecord('0d0e0f'), clientId: 'reader-sparse' };
    for (const f of ['issuerSerial', 'keyRef', 'spiffeId', 'supersededBy', 'supersededAt', 'graceUntil', 'revokedAt', 'revocationReason', 'retiredAt'] as const) delete sparse[f];
    await registry.commit([{ op: 'create', record: full }, { op: 'create', record: sparse }], { atomic: true });
    const r = reader();
    expect(await r.get(full.serial)).toEqual(full);
    expect(await r.get(full.serial)).toEqual(await registry.get(full.serial));
    const back = await r.get(sparse.serial);
    expect(back).toEqual(sparse);
    expect(Object.keys(back!).sort()).toEqual(Object.keys(sparse).sort());
  });

  it('reads the records of a real CA as DynamoDbRegistry does', async () => {
    const alice = (await pki.issue('alice')).record;
    const cas = await pki.store.registry.list({ kind: 'intermediate' });
    await registry.commit([...cas, alice].map((record) => ({ op: 'create' as const, record })), { atomic: true });
    const r = reader();
    for (const rec of [alice, ...cas]) expect(await r.get(rec.serial)).toEqual(await registry.get(rec.serial));
    // and the authorizer allows through it, reading the client and its intermediate
    const reads: string[] = [];
    const counting = { get: (s: string) => (reads.push(s), r.get(s)) };
    const run = createAuthorizer({ registry: counting, clock: { now: () => at(60_000) }, config: { responseMode: 'simple' }, log: () => {} });
    expect(await run(eventV2(clientCertOf(alice.certificatePem)))).toMatchObject({ isAuthorized: true, context: { clientId: 'alice' } });
    expect(reads).toEqual([alice.serial, alice.issuerSerial]);
  });

  it('batches_the_key_set_and_the_first_records_of_a_cold_start_into_one_BatchGetItem_that_moto_answers_as_GetItem_would', async () => {
    const alice = (await pki.issue('batch-alice')).record;
    await registry.commit([{ op: 'create', record: alice }], { atomic: true });
    const doc = { keys: [{ kty: 'EC', crv: 'P-256', kid: 'batch-k1', alg: 'ES256', use: 'sig', x: 'x', y: 'y' }] };
    await client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: 'TOKEN#JWKS' }, jwks: { S: JSON.stringify(doc) } } }));
    const ops: string[] = [];
    const r = new DynamoDbGetItemReader({ tableName: table, region: REGION, endpoint, credentials, timeoutMs: 2000, batchWhileConnecting: true, onRequest: (op) => ops.push(op) });
    void r.preconnect();
    const [record, keySet, unknown] = await Promise.all([r.get(alice.serial), r.tokenKeySet(), r.get('deadbeef')]);
    expect(ops).toEqual(['BatchGetItem']);
    expect(record).toEqual(await registry.get(alice.serial));
    expect(keySet).toEqual(doc);
    expect(unknown).toBeUndefined();
  });

  it('answers undefined for an unknown serial', async () => {
    expect(await reader().get('deadbeef')).toBeUndefined();
  });

  it('throws for a missing table, and the authorizer denies with registry_error', async () => {
    const missing = reader({ tableName: unique('ca-no-such-table') });
    const e = await missing.get('01').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DynamoDbReadError);
    expect((e as DynamoDbReadError).code).toBe('ResourceNotFoundException');
    expect((e as Error).message).toMatch(/^DynamoDB table ca-no-such-table-\w+ not found: ResourceNotFoundException/);
    const logs: Record<string, unknown>[] = [];
    const run = createAuthorizer({ registry: missing, clock: { now: () => at(60_000) }, config: { responseMode: 'simple' }, log: (l) => logs.push(l as Record<string, unknown>) });
    const alice = (await pki.store.registry.list({ clientId: 'alice' }))[0]!;
    expect(await run(eventV2(clientCertOf(alice.certificatePem)))).toEqual({ isAuthorized: false, context: { reason: 'registry_error' } });
    expect(logs[0]).toMatchObject({ level: 'error', reason: 'registry_error', error: expect.stringContaining('ResourceNotFoundException') });
  });
});

describe('DynamoDbGetItemReader when the endpoint does not answer', () => {
  let blackHole: Server;
  let holePort: number;
  const sockets: Socket[] = [];

  beforeAll(async () => {
    // accepts connections and never answers
    blackHole = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => blackHole.listen(0, '127.0.0.1', r));
    holePort = (blackHole.address() as { port: number }).port;
  });

  afterAll(async () => {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => blackHole.close(() => r()));
  });

  it('throws within its timeout when nothing answers', async () => {
    const started = performance.now();
    const e = await reader({ endpoint: `http://127.0.0.1:${holePort}`, timeoutMs: 300 }).get('01').catch((x: unknown) => x);
    const took = performance.now() - started;
    expect(e).toBeInstanceOf(DynamoDbReadError);
    expect((e as DynamoDbReadError).code).toBe('Timeout');
    expect((e as Error).message).toContain('no answer within 300 ms');
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(1000);
  });

  it('throws at once when nothing listens', async () => {
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as { port: number }).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const started = performance.now();
    const e = await reader({ endpoint: `http://127.0.0.1:${port}`, timeoutMs: 2000 }).get('01').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DynamoDbReadError);
    expect((e as DynamoDbReadError).code).toBe('ECONNREFUSED');
    expect(performance.now() - started).toBeLessThan(1000);
  });
});

describe('the reader configured from the Lambda environment', () => {
  const base = { CA_TABLE: 'ca-registry', AWS_REGION: 'eu-west-1', CA_RESPONSE_MODE: 'simple' };
  const compose = (env: Record<string, string | undefined>) => {
    const logs: Record<string, unknown>[] = [];
    const run = composeAuthorizer(
      env,
      (e) => new DynamoDbGetItemReader({ tableName: e.tableName, region: e.region, ...getItemReaderEnv(env, e.region), timeoutMs: 500 }),
      { log: (l) => logs.push(l as Record<string, unknown>) },
    );
    return { run, logs };
  };

  it.each([
    [{}, /^AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE' }, /^AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set/],
    [{ AWS_ACCESS_KEY_ID: 'AKIA EXAMPLE', AWS_SECRET_ACCESS_KEY: 's' }, /^AWS_ACCESS_KEY_ID is malformed/],
    [{ AWS_ACCESS_KEY_ID: 'AKIA/EXAMPLE', AWS_SECRET_ACCESS_KEY: 's' }, /^AWS_ACCESS_KEY_ID is malformed/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'se cret' }, /^AWS_SECRET_ACCESS_KEY is malformed/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'tok\nen' }, /^AWS_SESSION_TOKEN is malformed/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_ENDPOINT_URL_DYNAMODB: 'not a url' }, /is not a URL/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_ENDPOINT_URL: 'ftp://example.com' }, /must be http\(s\)/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_USE_FIPS_ENDPOINT: 'true' }, /^AWS_USE_FIPS_ENDPOINT is set/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'us-iso-east-1' }, /isolated partition/],
    [{ AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_REGION: 'eu-west-1.evil.com/' }, /is not a region name/],
  ])('refuses at cold start: %j', async (vars, message) => {
    const { run, logs } = compose({ ...base, ...vars });
    const alice = (await pki.store.registry.list({ clientId: 'alice' }))[0]!;
    expect(await run(eventV2(clientCertOf(alice.certificatePem)))).toEqual({ isAuthorized: false, context: { reason: 'config_error' } });
    expect(logs[0]).toMatchObject({ level: 'error', reason: 'config_error', registryReads: 0 });
    expect(String(logs[0]!.configError)).toMatch(message);
  });

  it('takes the endpoint from AWS_ENDPOINT_URL_DYNAMODB first, then AWS_ENDPOINT_URL, else the region', () => {
    const creds = { AWS_ACCESS_KEY_ID: 'ASIAEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', AWS_SESSION_TOKEN: 'token' };
    expect(getItemReaderEnv({ ...creds, AWS_ENDPOINT_URL_DYNAMODB: 'http://a:1', AWS_ENDPOINT_URL: 'http://b:2' }, 'eu-west-1').endpoint).toBe('http://a:1');
    expect(getItemReaderEnv({ ...creds, AWS_ENDPOINT_URL: 'http://b:2' }, 'eu-west-1').endpoint).toBe('http://b:2');
    expect(getItemReaderEnv({ ...creds, AWS_ENDPOINT_URL: 'http://b:2', AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }, 'eu-west-1').endpoint).toBe('https://dynamodb.eu-west-1.amazonaws.com');
    expect(getItemReaderEnv(creds, 'us-gov-west-1').endpoint).toBe('https://dynamodb.us-gov-west-1.amazonaws.com');
    expect(getItemReaderEnv(creds, 'cn-north-1').endpoint).toBe('https://dynamodb.cn-north-1.amazonaws.com.cn');
    expect(getItemReaderEnv(creds, 'eu-west-1').credentials).toEqual({ accessKeyId: 'ASIAEXAMPLE', secretAccessKey: 'secret', sessionToken: 'token' });
  });

  it('reads through moto when configured from the environment', async () => {
    const alice = (await pki.store.registry.list({ clientId: 'alice' }))[0]!;
    const { run, logs } = compose({ CA_TABLE: table, AWS_REGION: REGION, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', CA_RESPONSE_MODE: 'simple' });
    expect(await run(eventV2(clientCertOf(alice.certificatePem)))).toMatchObject({ isAuthorized: true });
    expect(logs[0]).toMatchObject({ reason: 'active', registryReads: 2 });
  });
});
