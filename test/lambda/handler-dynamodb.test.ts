import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawn, spawnSync } from 'node:child_process';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbRegistry } from '../../src/adapters/aws/dynamodb-registry.js';
import { DynamoDbGetItemReader } from '../../src/adapters/aws/dynamodb-reader.js';
import { createAuthorizer } from '../../src/lambda/authorizer.js';
import { authorizerDeploySettings, buildAuthorizerBundle } from '../../src/lambda/build.js';
import { loopbackServerPki } from '../helpers/pki.js';
import { revoke } from '../../src/domain/revocation.js';
import type { CertificateRecord } from '../../src/ports.js';
import { createTable, unique, useMoto, REGION } from '../aws/moto-env.js';
import { at, makePki, type TestPki } from './pki.js';
import { ROUTE_ARN, clientCertOf, eventRest, eventV1, eventV2 } from './events.js';

let pki: TestPki;
let foreign: TestPki;
let dir: string;
let table: string;
let endpoint: string;
let client: DynamoDBClient;
let alice: CertificateRecord;
let bob: CertificateRecord;
let carol: CertificateRecord;
let stranger: CertificateRecord;

/** Copies the local registry into the DynamoDB table, CA records first. */
async function mirror(): Promise<void> {
  const reg = new DynamoDbRegistry({ client, tableName: table });
  const all = await pki.store.registry.list();
  const order = { root: 0, intermediate: 1, client: 2 } as const;
  for (const r of all.sort((a, b) => order[a.kind] - order[b.kind])) {
    const existing = await reg.get(r.serial);
    await reg.commit([existing ? { op: 'update', record: r, expect: existing.status } : { op: 'create', record: r }], { atomic: true });
  }
}

beforeAll(async () => {
  endpoint = useMoto().endpoint;
  client = new DynamoDBClient({ region: REGION });
  table = unique('ca-authz');
  await createTable(client, table);
  pki = await makePki({ name: 'ca-ddb' });
  foreign = await makePki({ name: 'ca-ddb-foreign' });
  alice = (await pki.issue('alice')).record;
  bob = (await pki.issue('bob')).record;
  carol = (await pki.issue('carol')).record;
  stranger = (await foreign.issue('alice')).record;
  await revoke(pki.ctx(at(1000)), { clientId: 'bob' });
  await mirror();
  dir = mkdtempSync(join(tmpdir(), 'ca-ddb-bundle-'));
}, 180_000);

afterAll(() => {
  pki?.cleanup();
  foreign?.cleanup();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the authorizer on the DynamoDB registry', () => {
  it('reads each client once and its intermediate once per cache period', async () => {
    const ops: string[] = [];
    const registry = new DynamoDbRegistry({ client, tableName: table, onRequest: (op) => ops.push(op) });
    const run = createAuthorizer({ registry, clock: { now: () => at(60_000) }, config: { cacheTtlMs: 5000, responseMode: 'simple' }, log: () => {} });
    const allowed = async (ev: unknown) => ((await run(ev)) as { isAuthorized: boolean }).isAuthorized;
    expect(await allowed(eventV2(clientCertOf(alice.certificatePem)))).toBe(true);
    expect(ops).toEqual(['GetItem', 'GetItem']);
    expect(await allowed(eventV2(clientCertOf(carol.certificatePem)))).toBe(true);
    expect(ops).toHaveLength(3);
    expect(await allowed(eventV2(clientCertOf(alice.certificatePem)))).toBe(true);
    expect(ops).toHaveLength(3);
    expect(await allowed(eventV2(clientCertOf(bob.certificatePem)))).toBe(false);
  });

  it('does the same through the GetItem reader the Lambda handler uses', async () => {
    const reader = new DynamoDbGetItemReader({ tableName: table, region: REGION, endpoint, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, timeoutMs: 2000 });
    const reads: string[] = [];
    const registry = { get: (serial: string) => (reads.push(serial), reader.get(serial)) };
    const run = createAuthorizer({ registry, clock: { now: () => at(60_000) }, config: { cacheTtlMs: 5000, responseMode: 'simple' }, log: () => {} });
    const decide = async (ev: unknown) => (await run(ev)) as { isAuthorized: boolean; context: { reason?: string } };
    expect((await decide(eventV2(clientCertOf(alice.certificatePem)))).isAuthorized).toBe(true);
    expect(reads).toEqual([alice.serial, alice.issuerSerial]);
    expect((await decide(eventV2(clientCertOf(carol.certificatePem)))).isAuthorized).toBe(true);
    expect(reads).toHaveLength(3);
    expect((await decide(eventV2(clientCertOf(alice.certificatePem)))).isAuthorized).toBe(true);
    expect(reads).toHaveLength(3);
    expect((await decide(eventV2(clientCertOf(bob.certificatePem)))).context.reason).toBe('revoked');
    expect((await decide(eventV2(clientCertOf(stranger.certificatePem)))).context.reason).toBe('unknown_serial');
  });

  it('the zip, loaded in a fresh process with the default settings, allows, denies a revoked and a foreign certificate, answering policies', async () => {
    const built = await buildAuthorizerBundle({ outDir: dir });
    spawnSync('unzip', ['-q', '-o', built.zipPath, '-d', join(dir, 'fn')]);
    const events = [eventV2(clientCertOf(alice.certificatePem)), eventRest(clientCertOf(bob.certificatePem)), eventV1(clientCertOf(stranger.certificatePem)), eventRest(clientCertOf(carol.certificatePem))];
    writeFileSync(join(dir, 'fn', 'events.json'), JSON.stringify(events));
    writeFileSync(
      join(dir, 'fn', 'run.mjs'),
      "import { readFileSync, writeFileSync } from 'node:fs';\nconst m = await import('./index.mjs');\nconst out = [];\nfor (const e of JSON.parse(readFileSync('events.json', 'utf8'))) out.push(await m.handler(e));\nwriteFileSync('result.json', JSON.stringify(out));\n",
    );
    const p = spawnSync(process.execPath, ['run.mjs'], {
      cwd: join(dir, 'fn'),
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        CA_TABLE: table,
        AWS_REGION: REGION,
        AWS_ENDPOINT_URL: endpoint,
        AWS_ACCESS_KEY_ID: 'testing',
        AWS_SECRET_ACCESS_KEY: 'testing',
        AWS_EC2_METADATA_DISABLED: 'true',
        // CA_RESPONSE_MODE unset: the default, a policy, which an HTTP API authorizer with AWS's defaults accepts
      },
    });
    expect(p.status, p.stderr).toBe(0);
    const out = JSON.parse(readFileSync(join(dir, 'fn', 'result.json'), 'utf8')) as any[];
    expect(out[0]).toMatchObject({ principalId: 'alice', policyDocument: { Statement: [{ Effect: 'Allow', Resource: ROUTE_ARN }] }, context: { clientId: 'alice', serial: alice.serial } });
    expect(out[1].policyDocument.Statement[0].Effect).toBe('Deny');
    expect(out[1].context).toEqual({ reason: 'revoked' });
    expect(out[2].policyDocument.Statement[0].Effect).toBe('Deny');
    expect(out[2].context).toEqual({ reason: 'unknown_serial' });
    expect(out[3]).toMatchObject({ principalId: 'carol', policyDocument: { Statement: [{ Effect: 'Allow' }] } });
    const reasons = p.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { reason: string }).reason);
    expect(reasons).toEqual(['active', 'revoked', 'unknown_serial', 'active']);
  });

  it('the zip, run with the environment `ca authorizer build` prints, verifies an HTTPS registry against CA_REGISTRY_TLS_ROOTS: allows with the root named, denies without it', async () => {
    // HTTPS in front of moto (a loopback proxy passing each request on unchanged): its certificate chains to a
    // test root made by openssl, which no default store holds
    const tls = loopbackServerPki(join(dir, 'registry-tls'));
    const proxy = createHttpsServer({ key: tls.key, cert: tls.cert }, (req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (d: Buffer) => chunks.push(d));
      req.on('end', async () => {
        const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)) as [string, string][]);
        const r = await fetch(endpoint + req.url, { method: req.method, headers, body: Buffer.concat(chunks), signal: AbortSignal.timeout(10_000) });
        res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'application/x-amz-json-1.0' }).end(Buffer.from(await r.arrayBuffer()));
      });
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    try {
      const built = await buildAuthorizerBundle({ outDir: join(dir, 'tls') });
      spawnSync('unzip', ['-q', '-o', built.zipPath, '-d', join(dir, 'tls', 'fn')]);
      writeFileSync(join(dir, 'tls', 'fn', 'events.json'), JSON.stringify([eventV2(clientCertOf(alice.certificatePem))]));
      writeFileSync(
        join(dir, 'tls', 'fn', 'run.mjs'),
        "import { readFileSync } from 'node:fs';\nconst m = await import('./index.mjs');\nfor (const e of JSON.parse(readFileSync('events.json', 'utf8'))) process.stderr.write(JSON.stringify(await m.handler(e)) + '\\n');\n",
      );
      // the child runs while this process's proxy answers: spawned, not spawnSync
      const run = (extra: Record<string, string>) =>
        new Promise<{ code: number | null; answer: any }>((resolve, reject) => {
          const c = spawn(process.execPath, ['run.mjs'], {
            cwd: join(dir, 'tls', 'fn'),
            env: {
              PATH: process.env.PATH,
              CA_TABLE: table,
              AWS_REGION: REGION,
              AWS_ENDPOINT_URL: `https://127.0.0.1:${(proxy.address() as { port: number }).port}`,
              AWS_ACCESS_KEY_ID: 'testing',
              AWS_SECRET_ACCESS_KEY: 'testing',
              ...authorizerDeploySettings('iam').environment,
              ...extra,
            },
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let err = '';
          c.stderr.on('data', (d) => (err += d));
          const t = setTimeout(() => c.kill('SIGKILL'), 30_000);
          c.on('error', reject);
          c.on('close', (code) => {
            clearTimeout(t);
            try {
              resolve({ code, answer: JSON.parse(err.trim().split('\n').pop()!) });
            } catch (e) {
              reject(new Error(`no answer (exit ${code}): ${err}`));
            }
          });
        });
      const trusted = await run({ CA_REGISTRY_TLS_ROOTS: tls.rootFile });
      expect(trusted.code).toBe(0);
      expect(trusted.answer).toMatchObject({ principalId: 'alice', policyDocument: { Statement: [{ Effect: 'Allow' }] }, context: { clientId: 'alice' } });
      for (const roots of ['amazon', 'system']) {
        const refused = await run({ CA_REGISTRY_TLS_ROOTS: roots });
        expect(refused.answer.policyDocument.Statement[0].Effect, roots).toBe('Deny');
        expect(refused.answer.context, roots).toEqual({ reason: 'registry_error' });
      }
    } finally {
      proxy.closeAllConnections();
      await new Promise((r) => proxy.close(r));
    }
  });
});
