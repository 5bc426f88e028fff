import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { createServer } from 'node:http';
import { ListObjectVersionsCommand, GetObjectCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { createAwsStore, createSsmBundleSink, type AwsStoreSettings } from '../../src/adapters/aws/aws-store.js';
import { awsError } from '../../src/adapters/aws/aws-errors.js';
import { ApiGatewayDomains } from '../../src/adapters/aws/api-gateway-domains.js';
import { S3Truststore } from '../../src/adapters/aws/s3-truststore.js';
import { planCommit } from '../../src/adapters/aws/dynamodb-registry.js';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { systemClock, type OperationContext } from '../../src/domain/context.js';
import { CaError } from '../../src/domain/errors.js';
import { bootstrap, syncTruststore } from '../../src/domain/hierarchy.js';
import { issueClient } from '../../src/domain/issuance.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import type { CertificateRecord, RegistryChange, Store } from '../../src/ports.js';
import { startFakeApiGateway, type FakeApiGateway } from './fake-api-gateway.js';
import { createBucket, createTable, unique, useMoto } from './moto-env.js';
import { fakeRecord } from '../helpers/records.js';

let env: ReturnType<typeof useMoto>;
let apigw: FakeApiGateway;
const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ca-aws-fail-'));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  env = useMoto();
  apigw = await startFakeApiGateway();
  process.env.AWS_ENDPOINT_URL_API_GATEWAY = apigw.endpoint;
  process.env.AWS_ENDPOINT_URL_APIGATEWAYV2 = apigw.endpoint;
});
afterAll(async () => {
  await apigw?.close();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

async function caught(p: Promise<unknown> | (() => unknown)): Promise<CaError> {
  const e = await (typeof p === 'function' ? Promise.resolve().then(p) : p).then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a CaError').toBeInstanceOf(CaError);
  const err = e as CaError;
  expect(err.message).not.toContain('\n');
  return err;
}

/** A loopback JSON-protocol endpoint answering by X-Amz-Target, for service behaviour moto does not model. */
async function startStub(answer: (target: string, res: (status: number, doc: unknown) => void) => void) {
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () =>
      answer(String(req.headers['x-amz-target'] ?? ''), (status, doc) => {
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.1' });
        res.end(JSON.stringify(doc));
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function tableItems(table: string) {
  return (await env.clients.dynamodb.send(new ScanCommand({ TableName: table }))).Items ?? [];
}

async function ssmNames(path: string) {
  return ((await env.clients.ssm.send(new GetParametersByPathCommand({ Path: path, Recursive: true }))).Parameters ?? []).map((p) => p.Name);
}

async function names() {
  const bucket = unique('fail-bucket');
  const table = unique('fail-table');
  const prefix = `/${unique('fail')}`;
  return { bucket, table, parameterPrefix: prefix };
}

const ctxOf = (store: Store): OperationContext => ({ store, clock: systemClock, policy: DEFAULT_POLICY, sink: new DirectoryBundleSink(tmp()) });

describe('aws store failures', () => {
  it('names each missing setting and refuses reserved or relative SSM prefixes', async () => {
    const warn = () => undefined;
    expect((await caught(createAwsStore({ table: 't', parameterPrefix: '/ca' }, { warn }))).message).toMatch(/^bucket is not set/);
    expect((await caught(createAwsStore({ bucket: 'b', parameterPrefix: '/ca' }, { warn }))).message).toMatch(/^table is not set/);
    expect((await caught(createAwsStore({ bucket: 'b', table: 't' }, { warn }))).message).toMatch(/^parameterPrefix is not set/);
    const saved = process.env.AWS_REGION;
    delete process.env.AWS_REGION;
    try {
      const e = await caught(createAwsStore({ bucket: 'b', table: 't', parameterPrefix: '/ca' }, { warn }));
      expect(e.code).toBe('usage');
      expect(e.message).toMatch(/^region is not set/);
    } finally {
      process.env.AWS_REGION = saved;
    }
    for (const bad of ['/aws/ca', '/AWS-keys', '/ssm', '/SsmStuff/x', 'ca/prod', '/ca//prod', '/ca prod']) {
      const e = await caught(createAwsStore({ bucket: 'b', table: 't', parameterPrefix: bad }, { warn }));
      expect(e.code).toBe('usage');
      expect(e.message).toContain(JSON.stringify(bad));
      expect((await caught(() => createSsmBundleSink({ parameterPrefix: bad }, { warn }))).code).toBe('usage');
    }
    expect((await caught(createAwsStore({ bucket: 'b', table: 't', parameterPrefix: '/aws/ca' }, { warn }))).message).toMatch(/first segment begins with "aws" or "ssm"/);
    const kms = await caught(createAwsStore({ bucket: 'b', table: 't', keyCustody: 'kms', domains: [{ name: 'x', type: 'grpc' as 'rest' }] }, { warn }));
    expect(kms.message).toMatch(/must have type rest or http/);
  });

  it('missing table: storage error naming it, and nothing written anywhere', async () => {
    const n = await names();
    await createBucket(env.clients.s3, n.bucket);
    const store = await createAwsStore(n, { warn: () => undefined });
    const e = await caught(bootstrap(ctxOf(store)));
    expect(e.code).toBe('storage');
    expect(e.message).toBe(`DynamoDB table ${n.table} not found`);
    expect(e.hint).toMatch(/create it/);
    expect(await ssmNames(n.parameterPrefix)).toEqual([]);
    expect((await env.clients.s3.send(new ListObjectVersionsCommand({ Bucket: n.bucket }))).Versions ?? []).toEqual([]);
  });

  it('missing bucket: refused before anything is written', async () => {
    const n = await names();
    await createTable(env.clients.dynamodb, n.table);
    const e = await caught(createAwsStore(n, { warn: () => undefined }));
    expect(e.code).toBe('storage');
    expect(e.message).toBe(`S3 bucket ${n.bucket} not found`);
    expect(e.hint).toMatch(/versioning/);
    expect(await tableItems(n.table)).toEqual([]);
  });

  it('bucket without versioning: refused up front; a publication that failed on it completes once versioning is on', async () => {
    const n = await names();
    await createTable(env.clients.dynamodb, n.table);
    await createBucket(env.clients.s3, n.bucket, false);
    const e = await caught(createAwsStore(n, { warn: () => undefined }));
    expect(e.code).toBe('storage');
    expect(e.message).toMatch(new RegExp(`^S3 bucket ${n.bucket} does not have versioning enabled`));
    expect(e.hint).toBe(`aws s3api put-bucket-versioning --bucket ${n.bucket} --versioning-configuration Status=Enabled`);
    expect(await tableItems(n.table)).toEqual([]);

    // Without the up-front check, bootstrap records the CA, then fails at publication time.
    const store = await createAwsStore(n, { warn: () => undefined, preflight: false });
    const ctx = ctxOf(store);
    const e2 = await caught(bootstrap(ctx));
    expect(e2.message).toMatch(/does not have versioning enabled/);
    expect((await env.clients.s3.send(new ListObjectVersionsCommand({ Bucket: n.bucket }))).Versions ?? []).toEqual([]);
    await env.clients.s3.send(new PutBucketVersioningCommand({ Bucket: n.bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const resumed = await createAwsStore(n, { warn: () => undefined });
    const r = await syncTruststore({ ...ctx, store: resumed });
    expect(r.changed).toBe(true);
    const versions = (await env.clients.s3.send(new ListObjectVersionsCommand({ Bucket: n.bucket }))).Versions ?? [];
    expect(versions).toHaveLength(1);
    const pem = await (await env.clients.s3.send(new GetObjectCommand({ Bucket: n.bucket, Key: 'truststore.pem' }))).Body!.transformToString();
    const cas = (await resumed.registry.list()).sort((a, b) => (a.kind === 'intermediate' ? -1 : 1));
    expect(pem).toBe(cas.map((c) => c.certificatePem.trim() + '\n').join(''));
  });

  it('disabled KMS key, or one the role may not sign with: storage error naming the key, nothing recorded or delivered', async () => {
    const n = await names();
    await createTable(env.clients.dynamodb, n.table);
    await createBucket(env.clients.s3, n.bucket);
    const ctx = ctxOf(await createAwsStore({ ...n, keyCustody: 'kms' }, { warn: () => undefined }));
    const boot = await bootstrap(ctx);
    const arn = boot.intermediate!.keyRef!;
    const spki = Buffer.from(boot.intermediate!.publicKey, 'base64').toString('base64');
    // moto 5.2.5 accepts DisableKey only by key id (not ARN) and still signs with a disabled key, and it does
    // not evaluate IAM: a loopback KMS stand-in answers as KMS does for those two cases.
    for (const [mode, message, hint] of [
      ['disabled', `KMS key ${arn} is disabled`, `enable it: aws kms enable-key --key-id ${arn}`],
      ['denied', `access denied: cannot sign with KMS key ${arn}`, /kms:Sign/],
    ] as const) {
      const kms = await startStub((target, res) => {
        if (mode === 'disabled') return res(400, { __type: 'DisabledException', message: `${arn} is disabled.` });
        if (target.endsWith('GetPublicKey')) return res(200, { KeyId: arn, PublicKey: spki, KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY' });
        return res(400, { __type: 'AccessDeniedException', message: 'User is not authorized to perform: kms:Sign' });
      });
      process.env.AWS_ENDPOINT_URL_KMS = kms.endpoint;
      try {
        const fresh = await createAwsStore({ ...n, keyCustody: 'kms' }, { warn: () => undefined });
        const bundles = tmp();
        const e = await caught(issueClient({ ...ctx, store: fresh, sink: new DirectoryBundleSink(bundles) }, { clientId: 'svc-x' }));
        expect(e.code).toBe('storage');
        expect(e.message).toBe(message);
        expect(e.hint).toMatch(hint);
        expect(await fresh.registry.list({ kind: 'client' })).toEqual([]);
        expect(readdirSync(bundles)).toEqual([]);
      } finally {
        delete process.env.AWS_ENDPOINT_URL_KMS;
        await kms.close();
      }
    }
  });

  it('translates credential and permission failures into one-line storage errors', () => {
    const expired = awsError({ name: 'ExpiredTokenException', message: 'The security token included in the request is expired' }, 'read', 'DynamoDB table t');
    expect([expired.code, expired.message]).toEqual(['storage', 'AWS credentials expired']);
    expect(expired.hint).toMatch(/refresh/);
    const denied = awsError({ name: 'AccessDeniedException', message: 'not authorized\nmore' }, 'sign with', 'KMS key arn:k');
    expect(denied.message).toBe('access denied: cannot sign with KMS key arn:k');
    expect(denied.hint).toMatch(/ca-cli-policy.json/);
  });
});

describe('API Gateway domains', () => {
  const pem = (s: string) => `-----BEGIN CERTIFICATE-----\n${Buffer.from(s).toString('base64')}\n-----END CERTIFICATE-----\n`;

  async function truststore(o: { strict?: boolean; warnOnUpdate?: string[]; domainUri?: string | null }) {
    const bucket = unique('domains');
    await createBucket(env.clients.s3, bucket);
    const uri = `s3://${bucket}/truststore.pem`;
    const name = `${unique('d')}.example.com`;
    const d = apigw.add(name, { type: 'http', truststoreUri: o.domainUri === null ? undefined : (o.domainUri ?? uri), warnOnUpdate: o.warnOnUpdate, updatingPolls: 3 });
    const warned: string[] = [];
    const domains = new ApiGatewayDomains({ domains: [{ name, type: 'http' }], rest: env.clients.apiGateway, http: env.clients.apiGatewayV2, pollIntervalMs: 1 });
    return { d, name, warned, t: new S3Truststore({ client: env.clients.s3, bucket, key: 'truststore.pem', domains, strict: o.strict, warn: (m) => warned.push(m) }) };
  }

  it('returns API Gateway truststore warnings, and with strict reports them and fails', async () => {
    const lax = await truststore({ warnOnUpdate: ['Certificate is expiring soon'] });
    const r = await lax.t.sync(pem('a'));
    expect(r.warnings).toEqual([`${lax.name}: Certificate is expiring soon`]);
    expect(lax.d.truststoreVersion).toBe(r.state.version);

    const strict = await truststore({ strict: true, warnOnUpdate: ['Certificate is expiring soon'] });
    const e = await caught(strict.t.sync(pem('a')));
    expect(e.code).toBe('verification');
    expect(strict.warned).toEqual([`truststore warning: ${strict.name}: Certificate is expiring soon`]);
  });

  it('refuses a domain without mutual TLS or on another truststore, and finishes an interrupted publication', async () => {
    const none = await truststore({ domainUri: null });
    expect((await caught(none.t.sync(pem('a')))).message).toBe(`API Gateway domain ${none.name} has no mutual TLS configured`);
    const other = await truststore({ domainUri: 's3://elsewhere/ts.pem' });
    expect((await caught(other.t.sync(pem('a')))).message).toMatch(/uses truststore s3:\/\/elsewhere\/ts.pem/);

    // S3 already has the content (a crash after the put): the next sync only moves the domain.
    const ok = await truststore({});
    ok.d.truststoreUri = undefined;
    await caught(ok.t.sync(pem('a')));
    ok.d.truststoreUri = `s3://${(ok.t as unknown as { o: { bucket: string } }).o.bucket}/truststore.pem`;
    const r = await ok.t.sync(pem('a'));
    expect(r.changed).toBe(false);
    expect(ok.d.truststoreVersion).toBe(r.state.version);
  });
});

describe('DynamoDB request count', () => {
  it('packs a 10,000-client rotation into 304 transactions (minimum 300 at 3 writes per client)', () => {
    const changes: RegistryChange[] = [];
    for (let i = 0; i < 10_000; i++) {
      const old = { ...record(i, 'old'), status: 'active' as const };
      const next = record(i, 'new');
      changes.push({ op: 'create', record: next }, { op: 'update', expect: 'active', record: { ...old, status: 'superseded', supersededBy: next.serial } });
    }
    const calls = planCommit('t', changes);
    const writes = calls.reduce((n, c) => n + c.length, 0);
    expect(writes).toBe(30_000);
    expect(calls.every((c) => c.length <= 100)).toBe(true);
    expect(calls).toHaveLength(304);
    expect(calls.length / Math.ceil(writes / 100)).toBeLessThanOrEqual(1.05);
    // with the audit event the CLI writes in every transaction (2 actions): 32 clients a call
    expect(planCommit('t', changes, { audit: true })).toHaveLength(Math.ceil(10_000 / 32));
    expect(() => planCommit('t', changes.slice(0, 68), { atomic: true })).toThrow(/exceeds DynamoDB's limit of 100/);
  });

  it('makes exactly the planned requests against the table', async () => {
    const { DynamoDbRegistry } = await import('../../src/adapters/aws/dynamodb-registry.js');
    const tableName = unique('count');
    await createTable(env.clients.dynamodb, tableName);
    const ops: string[] = [];
    const reg = new DynamoDbRegistry({ client: env.clients.dynamodb, tableName, onRequest: (op) => ops.push(op) });
    const olds = Array.from({ length: 40 }, (_, i) => record(i, 'old'));
    await reg.commit(olds.map((r) => ({ op: 'create', record: r })));
    expect(ops).toEqual(['TransactWriteItems']);
    ops.length = 0;
    await reg.commit(olds.flatMap((o, i) => [{ op: 'create', record: record(i, 'new') }, { op: 'update', expect: 'active', record: { ...o, status: 'superseded' } }] as RegistryChange[]));
    expect(ops).toEqual(['TransactWriteItems', 'TransactWriteItems']);
  });

  function record(i: number, tag: string): CertificateRecord {
    return fakeRecord({ serial: `${tag === 'old' ? 'a' : 'b'}${i.toString(16).padStart(8, '0')}`, clientId: `client-${i}`, subject: `CN=client-${i}` });
  }
});
