/**
 * The token modes on moto with real SDK clients setting the stage: the registry's TOKEN#JWKS item read by the
 * signed GetItem reader, and the authorizer zip in a fresh process in mtls+token mode (DynamoDB) and jwt-hs256
 * mode (Secrets Manager with AWSCURRENT/AWSPREVIOUS after a rotation; SSM SecureString).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { CreateSecretCommand, PutSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { PutParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { DynamoDbRegistry } from '../../src/adapters/aws/dynamodb-registry.js';
import { DynamoDbGetItemReader, DynamoDbReadError } from '../../src/adapters/aws/dynamodb-reader.js';
import { SecretReadError, readHmacSecrets } from '../../src/adapters/aws/secret-reader.js';
import { readTokenKeySet } from '../../src/adapters/aws/token-key-set.js';
import { buildAuthorizerBundle } from '../../src/lambda/build.js';
import { TOKEN_JWKS_KEY } from '../../src/domain/token-claims.js';
import type { CertificateRecord } from '../../src/ports.js';
import { createTable, unique, useMoto, REGION } from '../aws/moto-env.js';
import { makePki, type TestPki } from './pki.js';
import { loopbackServerPki } from '../helpers/pki.js';
import { clientCertOf, eventToken, eventV2, withAuthorization } from './events.js';
import { AUDIENCE, ISSUER, accessToken, jwt, keySetOf, signingKey, type SigningKey } from './tokens.js';

let pki: TestPki;
let dir: string;
let table: string;
let endpoint: string;
let ddb: DynamoDBClient;
let sm: SecretsManagerClient;
let ssm: SSMClient;
let alice: CertificateRecord;
let bob: CertificateRecord;
let key: SigningKey;
const credentials = { accessKeyId: 'testing', secretAccessKey: 'testing' };
const nowS = () => Math.floor(Date.now() / 1000);
const enc = (s: string) => new TextEncoder().encode(s);

async function mirror(): Promise<void> {
  const reg = new DynamoDbRegistry({ client: ddb, tableName: table });
  const order = { root: 0, intermediate: 1, client: 2 } as const;
  for (const r of (await pki.store.registry.list()).sort((a, b) => order[a.kind] - order[b.kind])) await reg.commit([{ op: 'create', record: r }], { atomic: true });
}

const putKeySet = (doc: unknown, raw?: string) =>
  ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: TOKEN_JWKS_KEY }, jwks: { S: raw ?? JSON.stringify(doc) }, updatedAt: { S: new Date().toISOString() } } }));

beforeAll(async () => {
  endpoint = useMoto().endpoint;
  ddb = new DynamoDBClient({ region: REGION });
  sm = new SecretsManagerClient({ region: REGION });
  ssm = new SSMClient({ region: REGION });
  table = unique('ca-token');
  await createTable(ddb, table);
  pki = await makePki({ name: 'ca-token-aws' });
  alice = (await pki.issue('alice')).record;
  bob = (await pki.issue('bob')).record;
  await mirror();
  key = await signingKey('k-aws');
  dir = mkdtempSync(join(tmpdir(), 'ca-token-aws-'));
  const built = await buildAuthorizerBundle({ outDir: dir });
  execFileSync('python3', ['-m', 'zipfile', '-e', built.zipPath, join(dir, 'fn')]);
  writeFileSync(
    join(dir, 'fn', 'run.mjs'),
    "import { readFileSync, writeFileSync } from 'node:fs';\nconst m = await import('./index.mjs');\nconst out = [];\nfor (const e of JSON.parse(readFileSync('events.json', 'utf8'))) out.push(await m.handler(e));\nwriteFileSync('result.json', JSON.stringify(out));\n",
  );
}, 180_000);

afterAll(() => {
  pki?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Runs the zip's handler in a fresh process with `env` over the moto settings; its answers and log lines. */
function runZip(events: unknown[], env: Record<string, string>) {
  writeFileSync(join(dir, 'fn', 'events.json'), JSON.stringify(events));
  const p = spawnSync(process.execPath, ['run.mjs'], {
    cwd: join(dir, 'fn'),
    encoding: 'utf8',
    timeout: 30_000,
    env: { PATH: process.env.PATH, AWS_REGION: REGION, AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', CA_RESPONSE_MODE: 'simple', ...env },
  });
  expect(p.status, p.stderr).toBe(0);
  expect(p.stdout).not.toMatch(/s3cr3t|BEGIN/);
  return { out: JSON.parse(readFileSync(join(dir, 'fn', 'result.json'), 'utf8')) as { isAuthorized?: boolean; context: Record<string, unknown> }[], lines: p.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>) };
}

describe('the TOKEN#JWKS item through the signed GetItem reader', () => {
  it('is read and parsed; an absent item or jwks attribute is undefined; a jwks attribute that is not JSON is a read error', async () => {
    const reader = new DynamoDbGetItemReader({ tableName: table, region: REGION, endpoint, credentials, timeoutMs: 2000 });
    expect(await reader.tokenKeySet()).toBeUndefined();
    // the mark of a first rotation that has not published its key yet: still no key set
    await ddb.send(new PutItemCommand({ TableName: table, Item: { pk: { S: TOKEN_JWKS_KEY }, pendingSince: { S: new Date().toISOString() } } }));
    expect(await reader.tokenKeySet()).toBeUndefined();
    await putKeySet(undefined, '{not json');
    await expect(reader.tokenKeySet()).rejects.toBeInstanceOf(DynamoDbReadError);
    await putKeySet(keySetOf(key));
    expect(await reader.tokenKeySet()).toEqual(keySetOf(key));
    // the SDK-client reader of the local gateway on the aws store reads the same item
    expect(await readTokenKeySet(ddb, table)).toEqual(keySetOf(key));
    const empty = unique('ca-token-empty');
    await createTable(ddb, empty);
    await expect(readTokenKeySet(ddb, empty)).rejects.toThrow(/no TOKEN#JWKS item/);
  });
});

describe('the zip in mtls+token mode on the DynamoDB registry', () => {
  it("allows alice's certificate with her token, denies bob's token with alice's certificate and a missing token", async () => {
    await putKeySet(keySetOf(key));
    const aliceToken = await accessToken(key, { clientId: 'alice', certPem: alice.certificatePem, nowS: nowS() });
    const bobToken = await accessToken(key, { clientId: 'bob', certPem: bob.certificatePem, nowS: nowS() });
    const ev = (r: CertificateRecord, t?: string) => (t ? withAuthorization(eventV2(clientCertOf(r.certificatePem)), `Bearer ${t}`) : eventV2(clientCertOf(r.certificatePem)));
    const { out, lines } = runZip([ev(alice, aliceToken), ev(alice, bobToken), ev(alice), ev(bob, bobToken)], {
      CA_TABLE: table,
      CA_AUTHORIZER_MODE: 'mtls+token',
      CA_TOKEN_ISSUER: ISSUER,
      CA_TOKEN_AUDIENCE: AUDIENCE,
    });
    expect(out[0]).toMatchObject({ isAuthorized: true, context: { clientId: 'alice', scope: 'orders:read' } });
    expect(out.slice(1).map((o) => o.context.reason ?? 'allowed')).toEqual(['token_cert_mismatch', 'no_token', 'allowed']);
    expect(lines.map((l) => l.mode)).toEqual(['mtls+token', 'mtls+token', 'mtls+token', 'mtls+token']);
  });
});

describe('the zip at a cold start, requests counted by a loopback forwarder in front of moto', () => {
  /** runZip without blocking this process, whose forwarder must answer meanwhile: the answers only. */
  async function runZipAside(events: unknown[], env: Record<string, string>) {
    writeFileSync(join(dir, 'fn', 'events.json'), JSON.stringify(events));
    const p = spawn(process.execPath, ['run.mjs'], {
      cwd: join(dir, 'fn'),
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
      env: { PATH: process.env.PATH, AWS_REGION: REGION, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', CA_RESPONSE_MODE: 'simple', ...env },
    });
    let err = '';
    p.stderr.on('data', (d: Buffer) => (err += d));
    p.stdout.resume();
    const code = await new Promise<number | null>((r) => p.on('close', r));
    expect(code, err).toBe(0);
    return JSON.parse(readFileSync(join(dir, 'fn', 'result.json'), 'utf8')) as { isAuthorized?: boolean; context: Record<string, unknown> }[];
  }

  /**
   * Forwards every request to moto unchanged and records its X-Amz-Target operation. Over HTTPS, as DynamoDB
   * answers: the batch is of the reads asked for during the TLS handshake (over http:// the init's wait for the
   * TCP connection leaves none to gather). Its certificate is trusted through CA_REGISTRY_TLS_ROOTS.
   */
  async function forwarder() {
    const ops: string[] = [];
    const tls = loopbackServerPki(join(dir, 'forwarder'));
    const server = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        ops.push(String(req.headers['x-amz-target']).split('.').pop()!);
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== 'host' && k !== 'connection')) as Record<string, string>;
        fetch(`${endpoint}${req.url}`, { method: req.method, headers, body: Buffer.concat(chunks), signal: AbortSignal.timeout(10_000) }).then(
          async (r) => res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/x-amz-json-1.0' }).end(Buffer.from(await r.arrayBuffer())),
          () => res.writeHead(502).end(),
        );
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return { url: `https://127.0.0.1:${(server.address() as { port: number }).port}`, roots: tls.rootFile, ops, close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))) };
  }

  it('mtls_token_reads_the_key_set_and_the_first_client_record_in_one_BatchGetItem_then_the_intermediate_and_mtls_reads_two_GetItems', async () => {
    await putKeySet(keySetOf(key));
    const fwd = await forwarder();
    try {
      const token = await accessToken(key, { clientId: 'alice', certPem: alice.certificatePem, nowS: nowS() });
      const event = withAuthorization(eventV2(clientCertOf(alice.certificatePem)), `Bearer ${token}`);
      const tokenMode = await runZipAside([event], { CA_TABLE: table, CA_AUTHORIZER_MODE: 'mtls+token', CA_TOKEN_ISSUER: ISSUER, CA_TOKEN_AUDIENCE: AUDIENCE, AWS_ENDPOINT_URL: fwd.url, CA_REGISTRY_TLS_ROOTS: fwd.roots });
      expect(tokenMode[0]).toMatchObject({ isAuthorized: true, context: { clientId: 'alice' } });
      expect(fwd.ops).toEqual(['BatchGetItem', 'GetItem']);
      fwd.ops.length = 0;
      const mtls = await runZipAside([eventV2(clientCertOf(alice.certificatePem))], { CA_TABLE: table, AWS_ENDPOINT_URL: fwd.url, CA_REGISTRY_TLS_ROOTS: fwd.roots });
      expect(mtls[0]).toMatchObject({ isAuthorized: true });
      expect(fwd.ops).toEqual(['GetItem', 'GetItem']);
    } finally {
      await fwd.close();
    }
  });
});

describe('jwt-hs256 with the secret in Secrets Manager or SSM', () => {
  const claims = () => ({ iss: ISSUER, aud: AUDIENCE, sub: 'svc', iat: nowS(), exp: nowS() + 300 });
  const first = 'first-s3cr3t-'.padEnd(40, 'a');
  const second = 'second-s3cr3t-'.padEnd(40, 'b');

  it('reads AWSCURRENT, and AWSPREVIOUS once a rotation has made one; SSM: the decrypted value; a missing secret is a read error', async () => {
    const name = unique('ca-hs256');
    const { ARN } = await sm.send(new CreateSecretCommand({ Name: name, SecretString: first }));
    const read = (secretId: string) => readHmacSecrets({ source: { kind: 'secretsmanager', secretId }, region: REGION, credentials, env: process.env, timeoutMs: 5000 });
    const before = await read(ARN!);
    expect(Buffer.from(before.current).toString()).toBe(first);
    expect(before.previous).toBeUndefined();
    await sm.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: second }));
    const after = await read(name);
    expect(Buffer.from(after.current).toString()).toBe(second);
    expect(Buffer.from(after.previous!).toString()).toBe(first);
    const param = `/${unique('ca')}/hs256`;
    await ssm.send(new PutParameterCommand({ Name: param, Value: first, Type: 'SecureString' }));
    const fromSsm = await readHmacSecrets({ source: { kind: 'ssm', name: param }, region: REGION, credentials, env: process.env, timeoutMs: 5000 });
    expect(Buffer.from(fromSsm.current).toString()).toBe(first);
    await expect(read(unique('missing'))).rejects.toMatchObject({ name: 'SecretReadError', code: 'ResourceNotFoundException' });
    await expect(read(unique('missing'))).rejects.toBeInstanceOf(SecretReadError);
  });

  it('the zip accepts tokens of the current and the previous secret during a rotation, refuses others, and refuses a short secret with config_error', async () => {
    const { ARN } = await sm.send(new CreateSecretCommand({ Name: unique('ca-hs256'), SecretString: first }));
    await sm.send(new PutSecretValueCommand({ SecretId: ARN, SecretString: second }));
    const t = (s: string) => jwt(enc(s), { alg: 'HS256', typ: 'JWT' }, claims());
    const env = { CA_AUTHORIZER_MODE: 'jwt-hs256', CA_JWT_SECRET_ARN: ARN!, CA_JWT_ISSUER: ISSUER, CA_JWT_AUDIENCE: AUDIENCE };
    const { out, lines } = runZip([eventToken(`Bearer ${await t(second)}`), withAuthorization(eventV2(undefined), `Bearer ${await t(first)}`), eventToken(`Bearer ${await t('x'.repeat(40))}`)], env);
    expect((out[0] as unknown as { policyDocument: { Statement: { Effect: string }[] } }).policyDocument.Statement[0]!.Effect).toBe('Allow');
    expect(out[1]).toMatchObject({ isAuthorized: true, context: { sub: 'svc' } });
    expect(out[2]!.context.reason).toBe('token_bad_signature');
    expect(lines.map((l) => l.reason)).toEqual(['token_valid', 'token_valid', 'token_bad_signature']);

    const { ARN: shortArn } = await sm.send(new CreateSecretCommand({ Name: unique('ca-hs256'), SecretString: 's3cr3t-'.padEnd(31, 'c') }));
    const short = runZip([eventToken(`Bearer ${await jwt(enc('s3cr3t-'.padEnd(31, 'c')), { alg: 'HS256' }, claims())}`)], { ...env, CA_JWT_SECRET_ARN: shortArn! });
    expect(short.out[0]!.context.reason).toBe('config_error');
    expect(short.lines[0]).toMatchObject({ level: 'error', reason: 'config_error', error: expect.stringContaining('shorter than 32 bytes') });
  });

  it('the zip reads an SSM SecureString parameter', async () => {
    const param = `/${unique('ca')}/hs256`;
    await ssm.send(new PutParameterCommand({ Name: param, Value: first, Type: 'SecureString' }));
    const { out } = runZip([eventToken(`Bearer ${await jwt(enc(first), { alg: 'HS256' }, claims())}`)], { CA_AUTHORIZER_MODE: 'jwt-hs256', CA_JWT_SECRET_PARAMETER: param, CA_JWT_ISSUER: ISSUER, CA_JWT_AUDIENCE: AUDIENCE });
    expect((out[0] as unknown as { policyDocument: { Statement: { Effect: string }[] } }).policyDocument.Statement[0]!.Effect).toBe('Allow');
  });

  it('an SSM parameter overwritten by a rotation: tokens of the current and the previous version pass, older ones do not', async () => {
    const param = `/${unique('ca')}/hs256-rotated`;
    const third = 'third-hmac-secret-of-at-least-32-bytes!!';
    await ssm.send(new PutParameterCommand({ Name: param, Value: first, Type: 'SecureString' }));
    await ssm.send(new PutParameterCommand({ Name: param, Value: second, Type: 'SecureString', Overwrite: true }));
    await ssm.send(new PutParameterCommand({ Name: param, Value: third, Type: 'SecureString', Overwrite: true }));
    const t = async (s: string) => eventToken(`Bearer ${await jwt(enc(s), { alg: 'HS256' }, claims())}`);
    const { lines } = runZip([await t(third), await t(second), await t(first)], { CA_AUTHORIZER_MODE: 'jwt-hs256', CA_JWT_SECRET_PARAMETER: param, CA_JWT_ISSUER: ISSUER, CA_JWT_AUDIENCE: AUDIENCE });
    expect(lines.map((l) => l.reason)).toEqual(['token_valid', 'token_valid', 'token_bad_signature']);
  });
});
