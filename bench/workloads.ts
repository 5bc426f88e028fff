/**
 * Benchmark workloads that need the TypeScript sources: bench/run.mjs bundles this file with esbuild into
 * bench/.build/ and runs one subcommand per child process. Each prints ONE JSON line on stdout (last line).
 *
 *   authorizer-fixture <out.json>     only the cold-start fixture of `authorizer` (no moto needed)
 *   authorizer <out-fixture.json>     warm decisions in-process (cache hit; registry miss against moto at
 *                                     AWS_ENDPOINT_URL, with moto's raw GetItem alongside) + the cold-start fixture
 *   rotation-local <N> <dir> <cliDir> seeds N active clients on a local store, copies it to cliDir (for the CLI
 *                                     run), then times rotateIntermediate in-process
 *   rotation-aws <N>                  the same on the AWS store at AWS_ENDPOINT_URL (moto), counting DynamoDB requests
 *   provision-local <N> <dir>         a local store with a CA and no client, and <dir>/clients.json listing N new
 *                                     clients, for the real CLI's `ca issue-client --from` (run by bench/run.mjs)
 *   provision-aws <N>                 provision (what --from runs) of N new clients in-process on the AWS store
 *                                     at AWS_ENDPOINT_URL (moto), counting DynamoDB requests
 *   token-authorizer <out-fixture>    warm cache-hit decisions in mtls+token mode beside mtls mode, interleaved,
 *                                     + the cold-start fixture (event with a bound access token, TOKEN#JWKS item)
 *   token-local <seconds> <claims.json> the token endpoint with a local key on one thread: whole requests (form,
 *                                     certificate check against the registry, claims, ES256) and jose's SignJWT
 *                                     of the same claims alone; writes the claims for bench/token_sign.py (PyJWT)
 */
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { BatchWriteItemCommand, CreateTableCommand, DynamoDBClient, GetItemCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { createLocalStore } from '../src/adapters/local/local-store.js';
import { awsClients, createAwsStore } from '../src/adapters/aws/aws-store.js';
import { DynamoDbRegistry, certKey, clientKey, planCommit } from '../src/adapters/aws/dynamodb-registry.js';
import { DynamoDbGetItemReader } from '../src/adapters/aws/dynamodb-reader.js';
import { systemClock, type OperationContext } from '../src/domain/context.js';
import { bootstrap, rotateIntermediate } from '../src/domain/hierarchy.js';
import { issueClient, openIssuer, signClient } from '../src/domain/issuance.js';
import { provision } from '../src/domain/provision.js';
import { DEFAULT_POLICY } from '../src/domain/policy.js';
import { createAuthorizer } from '../src/lambda/authorizer.js';
import { loadTokenVerifier } from '../src/lambda/token-loader.js';
import { TOKEN_DEFAULTS } from '../src/lambda/config.js';
import { TOKEN_JWKS_KEY, certificateThumbprint } from '../src/domain/token-claims.js';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { X509Certificate } from 'node:crypto';
import { FileTokenKeyCustody, FileTokenKeySet } from '../src/adapters/local/file-token-keys.js';
import { currentSigningKey, jwksOf } from '../src/domain/token-keys.js';
import { createTokenEndpoint } from '../src/domain/token-endpoint.js';
import type { BundleSink, CertificateRecord, ClientBundle, RegistryReader, Store } from '../src/ports.js';

const REGION = 'us-east-1';
const PASSPHRASE = 'bench-passphrase-123';

/** Delivers nowhere: the benchmarks time signing and recording, not writing bundle files. */
const noopSink: BundleSink = {
  kind: 'none',
  describe: async (ids) => ids.map((clientId) => ({ clientId, pkcs12: false })),
  stage: async (bundles) => ({ locations: bundles.map(() => []), publish: async () => undefined }),
  recover: async () => ({ published: [], discarded: [] }),
  preflight: async () => {},
};

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
function stats(samples: number[]) {
  const s = [...samples].sort((a, b) => a - b);
  return { n: s.length, p50: percentile(s, 50), p99: percentile(s, 99), mean: s.reduce((a, b) => a + b, 0) / s.length, max: s[s.length - 1]! };
}

/** Each CertificateRecord field as its own S attribute: the item DynamoDbRegistry writes (see its README). */
function certItem(r: CertificateRecord): Record<string, AttributeValue> {
  const item: Record<string, AttributeValue> = { pk: { S: certKey(r.serial) } };
  for (const [k, v] of Object.entries(r)) if (typeof v === 'string') item[k] = { S: v };
  return item;
}

/** Counts every HTTP attempt a client makes, by command name (deserialize runs once per attempt, inside retries). */
function countRequests(client: DynamoDBClient): Record<string, number> {
  const counts: Record<string, number> = {};
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const name = (context as { commandName?: string }).commandName ?? 'unknown';
      counts[name.replace(/Command$/, '')] = (counts[name.replace(/Command$/, '')] ?? 0) + 1;
      return next(args);
    },
    { step: 'deserialize', name: 'benchRequestCounter' },
  );
  return counts;
}

function useEndpoint(): string {
  const endpoint = process.env.AWS_ENDPOINT_URL;
  if (!endpoint) throw new Error('AWS_ENDPOINT_URL is not set');
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  process.env.AWS_REGION = REGION;
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  return endpoint;
}

async function createTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

const unique = (p: string) => `${p}-${randomBytes(5).toString('hex')}`;

function eventV2(pem: string) {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: 'arn:aws:execute-api:us-east-1:123456789012:abcdef123/$default/GET/orders',
    identitySource: [],
    routeKey: 'GET /orders',
    rawPath: '/orders',
    rawQueryString: '',
    headers: { host: 'api.example.com' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef123',
      authentication: { clientCert: { clientCertPem: pem, subjectDN: '', issuerDN: '', serialNumber: '', validity: { notBefore: '', notAfter: '' } } },
      domainName: 'api.example.com',
      http: { method: 'GET', path: '/orders', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'bench' },
      requestId: 'req-1',
      routeKey: 'GET /orders',
      stage: '$default',
      time: '12/Mar/2020:19:03:58 +0000',
      timeEpoch: 1583348638390,
    },
  };
}

async function timeDecisions(authorize: (e: unknown) => Promise<{ isAuthorized?: boolean }>, event: unknown, n: number, warmup: number): Promise<number[]> {
  for (let i = 0; i < warmup; i++) if (!(await authorize(event)).isAuthorized) throw new Error('warm-up decision denied');
  const out = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    const r = await authorize(event);
    out[i] = performance.now() - t;
    if (!r.isAuthorized) throw new Error('decision denied');
  }
  return out;
}

async function authorizerBench(fixturePath: string, fixtureOnly = false) {
  const dir = mkdtempSync(join(tmpdir(), 'ca-bench-authz-'));
  try {
    const store = createLocalStore({ dir, passphrase: async () => PASSPHRASE, plaintextKeys: true });
    let bundle: ClientBundle | undefined;
    const sink: BundleSink = { ...noopSink, kind: 'capture', stage: async (bs) => ((bundle = bs[0]), noopSink.stage(bs)) };
    const ctx: OperationContext = { store, clock: systemClock, policy: DEFAULT_POLICY, sink };
    await bootstrap(ctx);
    await issueClient(ctx, { clientId: 'bench-client' });
    const records = await store.registry.list();
    const client = records.find((r) => r.kind === 'client')!;
    const inter = records.find((r) => r.kind === 'intermediate')!;
    const event = eventV2(bundle!.certificatePem);

    // The cold-start fixture: the event and the two items the registry serves.
    writeFileSync(fixturePath, JSON.stringify({ event, items: { [certKey(client.serial)]: certItem(client), [certKey(inter.serial)]: certItem(inter) } }));
    if (fixtureOnly) return { fixture: fixturePath };

    // Cache hit, in-process: a Map-backed RegistryReader, so every timed decision is served from the caches.
    const byserial = new Map(records.map((r) => [r.serial, r]));
    const reader: RegistryReader = { get: async (s) => byserial.get(s) };
    let logged = 0;
    // simple responses: the timing loops read isAuthorized (the answer format costs the same either way)
    const hitDiscard = createAuthorizer({ registry: reader, config: { responseMode: 'simple' }, log: () => void logged++ });
    const hitNoLog = stats(await timeDecisions(hitDiscard as never, event, 20_000, 2_000));
    // The same with the log line serialised as the default logger does (minus the stdout write).
    let bytes = 0;
    const hitJson = createAuthorizer({ registry: reader, config: { responseMode: 'simple' }, log: (e) => void (bytes += JSON.stringify(e).length) });
    const hitLog = stats(await timeDecisions(hitJson as never, event, 20_000, 2_000));

    // Registry miss against moto: client cache TTL 0, so every decision reads CERT#<serial> (the intermediate
    // stays cached, as in steady state), through the reader the Lambda handler uses.
    useEndpoint();
    const table = unique('bench-authz');
    const admin = new DynamoDBClient({ region: REGION });
    await createTable(admin, table);
    const writer = new DynamoDbRegistry({ client: admin, tableName: table });
    await writer.commit(records.filter((r) => r.kind !== 'client').map((r) => ({ op: 'create' as const, record: r })), { atomic: true });
    await writer.commit([{ op: 'create', record: client }], { atomic: true });
    const counts: Record<string, number> = {};
    const missReader = new DynamoDbGetItemReader({
      tableName: table,
      region: REGION,
      endpoint: process.env.AWS_ENDPOINT_URL!,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
      timeoutMs: 2000,
      onRequest: (op) => void (counts[op] = (counts[op] ?? 0) + 1),
    });
    const missAuthz = createAuthorizer({ registry: missReader, config: { cacheTtlMs: 0, responseMode: 'simple' }, log: (e) => void (bytes += JSON.stringify(e).length) });
    const raw = new DynamoDBClient({ region: REGION, maxAttempts: 2, requestHandler: { connectionTimeout: 1000, requestTimeout: 2000 } });
    const rawGet = () => raw.send(new GetItemCommand({ TableName: table, Key: { pk: { S: certKey(client.serial) } }, ConsistentRead: true }));
    for (let i = 0; i < 50; i++) {
      if (!(await missAuthz(event) as { isAuthorized?: boolean }).isAuthorized) throw new Error('miss decision denied');
      await rawGet();
    }
    const before = counts.GetItem ?? 0;
    const N = Number(process.env.BENCH_MISS_N ?? 500);
    const miss: number[] = [];
    const moto: number[] = [];
    // Interleaved, so both see the same moto and the same machine load.
    for (let i = 0; i < N; i++) {
      let t = performance.now();
      const r = (await missAuthz(event)) as { isAuthorized?: boolean };
      miss.push(performance.now() - t);
      if (!r.isAuthorized) throw new Error('miss decision denied');
      t = performance.now();
      await rawGet();
      moto.push(performance.now() - t);
    }
    const getItems = (counts.GetItem ?? 0) - before;
    const m = stats(miss);
    const g = stats(moto);
    return {
      hit: hitLog,
      hitNoLog,
      miss: m,
      motoGetItem: g,
      overhead: { p50: m.p50 - g.p50, p99: m.p99 - g.p99 },
      getItemPerMiss: getItems / N,
      requestsDuringMiss: Object.fromEntries(Object.entries(counts)),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export const BENCH_TOKEN_ISSUER = 'https://auth.bench.test';
export const BENCH_TOKEN_AUDIENCE = 'https://api.bench.test';

/**
 * mtls+token beside mtls, cache hit: both authorizers are served from their caches (the token's signature is
 * verified once, then reused until its exp), timed in alternating blocks so both see the same machine load.
 */
async function tokenAuthorizerBench(fixturePath: string) {
  const dir = mkdtempSync(join(tmpdir(), 'ca-bench-token-'));
  try {
    const store = createLocalStore({ dir, passphrase: async () => PASSPHRASE, plaintextKeys: true });
    let bundle: ClientBundle | undefined;
    const sink: BundleSink = { ...noopSink, kind: 'capture', stage: async (bs) => ((bundle = bs[0]), noopSink.stage(bs)) };
    const ctx: OperationContext = { store, clock: systemClock, policy: DEFAULT_POLICY, sink };
    await bootstrap(ctx);
    await issueClient(ctx, { clientId: 'bench-client' });
    const records = await store.registry.list();
    const client = records.find((r) => r.kind === 'client')!;
    const inter = records.find((r) => r.kind === 'intermediate')!;
    const { privateKey, publicKey } = await generateKeyPair('ES256');
    const jwks = { keys: [{ ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' }] };
    const now = Math.floor(Date.now() / 1000);
    const token = await new SignJWT({
      iss: BENCH_TOKEN_ISSUER,
      sub: 'bench-client',
      aud: BENCH_TOKEN_AUDIENCE,
      client_id: 'bench-client',
      iat: now,
      exp: now + 3600,
      jti: 'bench',
      scope: 'orders:read',
      cnf: { 'x5t#S256': certificateThumbprint(new X509Certificate(bundle!.certificatePem).raw) },
    })
      .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'bench-1' })
      .sign(privateKey);
    const plain = eventV2(bundle!.certificatePem);
    const event = { ...plain, headers: { ...plain.headers, authorization: `Bearer ${token}` } };
    const items = {
      [certKey(client.serial)]: certItem(client),
      [certKey(inter.serial)]: certItem(inter),
      [TOKEN_JWKS_KEY]: { pk: { S: TOKEN_JWKS_KEY }, jwks: { S: JSON.stringify(jwks) }, updatedAt: { S: new Date().toISOString() } },
    };
    writeFileSync(fixturePath, JSON.stringify({ event, items }));

    const byserial = new Map(records.map((r) => [r.serial, r]));
    const reader: RegistryReader = { get: async (s) => byserial.get(s) };
    let bytes = 0;
    const log = (e: object) => void (bytes += JSON.stringify(e).length);
    const mtls = createAuthorizer({ registry: reader, config: { responseMode: 'simple' }, log });
    const verifier = loadTokenVerifier({ mode: 'mtls+token', issuer: BENCH_TOKEN_ISSUER, audience: BENCH_TOKEN_AUDIENCE, ...TOKEN_DEFAULTS }, { keySet: async () => jwks });
    const withToken = createAuthorizer({ registry: reader, config: { responseMode: 'simple', mode: 'mtls+token', routeScopes: { 'GET /orders': ['orders:read'] } }, log, token: verifier });
    const a: number[] = [];
    const b: number[] = [];
    for (let round = 0; round < 10; round++) {
      a.push(...(await timeDecisions(mtls as never, event, 2_000, round === 0 ? 2_000 : 100)));
      b.push(...(await timeDecisions(withToken as never, event, 2_000, round === 0 ? 2_000 : 100)));
    }
    const m = stats(a);
    const t = stats(b);
    return { mtls: m, mtlsToken: t, p99Ratio: t.p99 / m.p99, logBytes: bytes };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** 256 client keys, reused round-robin: seeding measures nothing, it only has to be quick. */
function clientKeys(): Uint8Array[] {
  // DER, not a JWK of the new key: see bench/issuance.ts (a Node 20 deadlock)
  return Array.from({ length: 256 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }));
}

/** Signs N active clients under the store's issuing intermediate; returns their records (not yet recorded). */
async function signClients(ctx: OperationContext, n: number): Promise<CertificateRecord[]> {
  const issuer = await openIssuer(ctx);
  const keys = clientKeys();
  const out: CertificateRecord[] = [];
  for (let i = 0; i < n; i++) {
    const { record } = await signClient(ctx, issuer, { clientId: `client-${String(i).padStart(5, '0')}`, keyType: 'ec-p256', keyOrigin: 'csr', publicKeySpki: keys[i % 256]! });
    out.push(record);
  }
  return out;
}

/**
 * Wraps registry.commit / list to time them (the domain's own calls, unchanged). Each commit is also run through
 * DynamoDbRegistry's planner (planCommit, exported for this): `plannedTransactWriteItems` is what the AWS store
 * would send for the same commits, so the local rotation of 10,000 clients gives the exact DynamoDB count.
 */
function instrument(store: Store) {
  const t = { commits: 0, commitMs: 0, lists: 0, listMs: 0, plannedTransactWriteItems: 0 };
  const reg = store.registry as { commit: Store['registry']['commit']; list: Store['registry']['list'] };
  const commit = reg.commit.bind(reg);
  const list = reg.list.bind(reg);
  reg.commit = async (c, o) => {
    // the CLI records an audit event in every transaction (two actions reserved in each)
    t.plannedTransactWriteItems += planCommit('plan', c, { atomic: o?.atomic, audit: true }).length;
    const s = performance.now();
    try {
      return await commit(c, o);
    } finally {
      t.commits++;
      t.commitMs += performance.now() - s;
    }
  };
  reg.list = async (q) => {
    const s = performance.now();
    try {
      return await list(q);
    } finally {
      t.lists++;
      t.listMs += performance.now() - s;
    }
  };
  return t;
}

async function rotationLocal(n: number, dir: string, cliDir: string) {
  const seedStore = createLocalStore({ dir, passphrase: async () => PASSPHRASE });
  const seedCtx: OperationContext = { store: seedStore, clock: systemClock, policy: DEFAULT_POLICY, sink: noopSink };
  let s = performance.now();
  await bootstrap(seedCtx);
  const seeded = await signClients(seedCtx, n);
  await seedStore.registry.commit(seeded.map((record) => ({ op: 'create' as const, record })));
  const seedMs = performance.now() - s;
  cpSync(dir, cliDir, { recursive: true });
  // A fresh store object, as a new CLI process would have: nothing cached.
  const store = createLocalStore({ dir, passphrase: async () => PASSPHRASE });
  const timing = instrument(store);
  const ctx: OperationContext = { store, clock: systemClock, policy: DEFAULT_POLICY, sink: noopSink };
  s = performance.now();
  const r = await rotateIntermediate(ctx);
  const ms = performance.now() - s;
  if (r.reissued.length !== n) throw new Error(`rotation re-issued ${r.reissued.length} of ${n}`);
  return { clients: n, seedMs, wallMs: ms, certsPerSec: n / (ms / 1000), registry: timing };
}

async function rotationAws(n: number) {
  useEndpoint();
  const c = awsClients(REGION);
  const bucket = unique('bench-truststore');
  const table = unique('bench-registry');
  await c.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await c.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  await createTable(c.dynamodb, table);
  const store = await createAwsStore({ region: REGION, bucket, table, parameterPrefix: `/${unique('bench')}/prod` }, { warn: () => {} });
  const ctx: OperationContext = { store, clock: systemClock, policy: DEFAULT_POLICY, sink: noopSink };
  let s = performance.now();
  await bootstrap(ctx);
  // Seed with BatchWriteItem (25 items a call), which moto applies quickly; the items are exactly those the
  // registry's own commit writes (CERT#<serial>, and CLIENT#<id> with its serial set and active serial).
  const seeded = await signClients(ctx, n);
  const items: Record<string, AttributeValue>[] = [];
  for (const r of seeded) {
    items.push(certItem(r));
    items.push({ pk: { S: clientKey(r.clientId) }, serials: { SS: [r.serial] }, activeSerial: { S: r.serial } });
  }
  const seeder = new DynamoDBClient({ region: REGION, maxAttempts: 10 });
  const batches: Record<string, AttributeValue>[][] = [];
  for (let i = 0; i < items.length; i += 25) batches.push(items.slice(i, i + 25));
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < batches.length) {
        let pending = batches[next++]!.map((Item) => ({ PutRequest: { Item } }));
        while (pending.length) {
          const out = await seeder.send(new BatchWriteItemCommand({ RequestItems: { [table]: pending } }));
          pending = (out.UnprocessedItems?.[table] ?? []) as typeof pending;
        }
      }
    }),
  );
  const seedMs = performance.now() - s;
  // The store's one DynamoDB client (registry and lock share it): count at the SDK, per HTTP attempt.
  const ddb = (store.registry as unknown as { client: DynamoDBClient }).client;
  const counts = countRequests(ddb);
  const timing = instrument(store);
  s = performance.now();
  const r = await rotateIntermediate(ctx);
  const ms = performance.now() - s;
  if (r.reissued.length !== n) throw new Error(`rotation re-issued ${r.reissued.length} of ${n}`);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { clients: n, seedMs, wallMs: ms, certsPerSec: n / (ms / 1000), requests: counts, totalRequests: total, registry: timing };
}

/** The provisioning file `ca issue-client --from` reads: N new client ids. */
const provisionIds = (n: number) => Array.from({ length: n }, (_, i) => `new-${String(i).padStart(5, '0')}`);

/** A CA without clients in <dir>/pki and <dir>/clients.json with N new clients, for the real CLI. */
async function provisionLocal(n: number, dir: string) {
  mkdirSync(dir, { recursive: true });
  const store = createLocalStore({ dir: join(dir, 'pki'), passphrase: async () => PASSPHRASE });
  await bootstrap({ store, clock: systemClock, policy: DEFAULT_POLICY, sink: noopSink });
  writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: provisionIds(n).map((client_id) => ({ client_id })) }));
  return { clients: n };
}

/** `provision` of N new clients on the AWS store (moto), with the store's DynamoDB requests counted. */
async function provisionAws(n: number) {
  useEndpoint();
  const c = awsClients(REGION);
  const bucket = unique('bench-truststore');
  const table = unique('bench-registry');
  await c.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  await c.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
  await createTable(c.dynamodb, table);
  const store = await createAwsStore({ region: REGION, bucket, table, parameterPrefix: `/${unique('bench')}/prod` }, { warn: () => {} });
  const ctx: OperationContext = { store, clock: systemClock, policy: DEFAULT_POLICY, sink: noopSink };
  await bootstrap(ctx);
  const ddb = (store.registry as unknown as { client: DynamoDBClient }).client;
  const counts = countRequests(ddb);
  const timing = instrument(store);
  const s = performance.now();
  const r = await provision(ctx, provisionIds(n).map((clientId) => ({ clientId })));
  const ms = performance.now() - s;
  if (r.issued.length !== n) throw new Error(`provisioning issued ${r.issued.length} of ${n}`);
  const total = Object.values(counts).reduce((a, b) => a + b, 0);
  return { clients: n, wallMs: ms, certsPerSec: n / (ms / 1000), requests: counts, totalRequests: total, registry: timing };
}

/**
 * Tokens per second on one thread, for `seconds` each: the endpoint answering POST /token for a client of a local
 * store (its record read from the local registry, the key a local encrypted key opened once), and jose's SignJWT of
 * the claims that endpoint issued, alone (what PyJWT's row does).
 */
async function tokenLocal(seconds: number, claimsOut: string) {
  const dir = mkdtempSync(join(tmpdir(), 'ca-bench-token-'));
  try {
    const store = createLocalStore({ dir: join(dir, 'pki'), passphrase: async () => PASSPHRASE });
    const ctx: OperationContext = { store, clock: systemClock, policy: DEFAULT_POLICY, sink: noopSink };
    await bootstrap(ctx);
    const rec = (await issueClient(ctx, { clientId: 'bench-client', scopes: ['orders:read', 'orders:write'], audiences: ['https://api.example.com'] })).record!;
    const keys = { custody: new FileTokenKeyCustody(join(dir, 'pki'), async () => PASSPHRASE), set: new FileTokenKeySet(join(dir, 'pki')) };
    const entry = await currentSigningKey({ ...keys, clock: systemClock, lock: { assertHeld: async () => undefined } }, { create: true });
    const signer = await keys.custody.signer(entry);
    const endpoint = createTokenEndpoint({ registry: store.registry, signer: async () => signer, jwks: async () => jwksOf([entry]), config: { issuer: 'https://auth.example.com' }, log: () => {} });
    const req = { method: 'POST', path: '/token', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'grant_type=client_credentials&scope=orders:read', clientCertPem: rec.certificatePem, domainName: 'auth.example.com' };
    const timed = async (f: () => Promise<unknown>) => {
      for (let i = 0; i < 200; i++) await f();
      let n = 0;
      const end = performance.now() + seconds * 1000;
      const t0 = performance.now();
      while (performance.now() < end) {
        await f();
        n++;
      }
      return n / ((performance.now() - t0) / 1000);
    };
    let last = '';
    const endpointPerSec = await timed(async () => {
      const r = await endpoint(req);
      if (r.statusCode !== 200) throw new Error(`token endpoint answered ${r.statusCode}: ${r.body}`);
      last = r.body;
    });
    const token = JSON.parse(last).access_token as string;
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString());
    writeFileSync(claimsOut, JSON.stringify(claims));
    const joseSignPerSec = await timed(() => signer.signJwt({ typ: 'at+jwt' }, claims));
    return { seconds, endpointPerSec, joseSignPerSec, tokenBytes: token.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const [cmd, ...args] = process.argv.slice(2);
let result: unknown;
if (cmd === 'authorizer') result = await authorizerBench(args[0]!);
else if (cmd === 'authorizer-fixture') result = await authorizerBench(args[0]!, true);
else if (cmd === 'rotation-local') result = await rotationLocal(Number(args[0]), args[1]!, args[2]!);
else if (cmd === 'rotation-aws') result = await rotationAws(Number(args[0]));
else if (cmd === 'provision-local') result = await provisionLocal(Number(args[0]), args[1]!);
else if (cmd === 'provision-aws') result = await provisionAws(Number(args[0]));
else if (cmd === 'token-authorizer') result = await tokenAuthorizerBench(args[0]!);
else if (cmd === 'token-local') result = await tokenLocal(Number(args[0]), args[1]!);
else throw new Error(`unknown workload ${cmd}`);
process.stdout.write(JSON.stringify(result) + '\n');
