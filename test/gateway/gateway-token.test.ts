/**
 * The local gateway in mtls+token mode with curl as the client: the certificate and an access token bound to it
 * pass, the same token with another client's certificate does not; and `ca gateway --mode mtls+token` serving the
 * local store's published key set (`<store dir>/token/jwks.json`).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { readFile } from 'node:fs/promises';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { issueServerCertificate } from '../../src/gateway/server-cert.js';
import { TOKEN_DEFAULTS } from '../../src/lambda/config.js';
import type { CertificateRecord } from '../../src/ports.js';
import { makePki, type TestPki } from '../lambda/pki.js';
import { BIN, PASSPHRASE, ca, tempDir } from '../helpers/cli.js';
import { validateOutput } from '../helpers/json-schema.js';
import { accessToken, jwt, keySetOf, signingKey, type SigningKey } from '../lambda/tokens.js';

let pki: TestPki;
let caFile: string;
let server: { certPem: string; keyPem: string };
let key: SigningKey;
const running: RunningGateway[] = [];
const clients: Record<string, { cert: string; key: string; record: CertificateRecord }> = {};

beforeAll(async () => {
  pki = await makePki({ name: 'ca-gateway-token' });
  for (const id of ['alice', 'bob']) {
    const c = await pki.issue(id);
    clients[id] = { cert: c.certPath, key: c.keyPath, record: c.record };
  }
  const s = await issueServerCertificate(pki.ctx());
  server = { certPem: s.certificatePem + s.chainPem, keyPem: s.privateKeyPem };
  caFile = join(pki.dir, 'truststore-for-clients.pem');
  writeFileSync(caFile, pki.truststorePem());
  key = await signingKey('gw-1');
  mkdirSync(join(pki.dir, 'store', 'token'), { recursive: true });
  writeFileSync(join(pki.dir, 'store', 'token', 'jwks.json'), JSON.stringify(keySetOf(key)));
}, 60_000);

afterAll(async () => {
  for (const g of running) await g.close();
  pki?.cleanup();
});

function curl(url: string, client: { cert: string; key: string }, cacert: string, headers: string[] = []): Promise<{ status: string; body: string }> {
  const args = ['-sS', '--max-time', '20', '--cacert', cacert, '--cert', client.cert, '--key', client.key, '-o', '-', '-w', '\n%{http_code}', ...headers.flatMap((h) => ['-H', h]), url];
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (_err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ status: stdout.slice(i + 1), body: stdout.slice(0, i) });
    });
  });
}

const nowS = () => Math.floor(Date.now() / 1000);
const ISS = 'https://localhost:8443';

describe('the local gateway in mtls+token mode, with curl', () => {
  it('allows a certificate with its bound token, refuses the same token with another certificate, and a request without a token', async () => {
    const logs: Record<string, unknown>[] = [];
    const g = await startGateway({
      registry: pki.store.registry,
      truststorePem: pki.truststorePem(),
      serverCertPem: server.certPem,
      serverKeyPem: server.keyPem,
      port: 0,
      cacheTtlMs: 0,
      mode: 'mtls+token',
      token: {
        settings: { mode: 'mtls+token', issuer: ISS, audience: ISS, ...TOKEN_DEFAULTS },
        sources: { keySet: async () => JSON.parse(await readFile(join(pki.dir, 'store', 'token', 'jwks.json'), 'utf8')) },
        routeScopes: { 'GET /orders': ['orders:read'] },
      },
      log: (e) => logs.push(e as Record<string, unknown>),
    });
    running.push(g);
    const token = await accessToken(key, { clientId: 'alice', certPem: clients.alice!.record.certificatePem, nowS: nowS(), over: { iss: ISS, aud: ISS } });
    const ok = await curl(`${g.url}orders`, clients.alice!, caFile, [`Authorization: Bearer ${token}`]);
    expect(ok.status).toBe('200');
    expect(JSON.parse(ok.body).context).toMatchObject({ clientId: 'alice', scope: 'orders:read' });
    expect((await curl(`${g.url}orders`, clients.bob!, caFile, [`Authorization: Bearer ${token}`])).status).toBe('403');
    expect((await curl(`${g.url}orders`, clients.alice!, caFile)).status).toBe('403');
    const noScope = await accessToken(key, { clientId: 'alice', certPem: clients.alice!.record.certificatePem, nowS: nowS(), scope: 'orders:write', over: { iss: ISS, aud: ISS } });
    expect((await curl(`${g.url}orders`, clients.alice!, caFile, [`Authorization: Bearer ${noScope}`])).status).toBe('403');
    const reasons = logs.filter((l) => l.msg === 'authorizer decision').map((l) => l.reason);
    expect(reasons).toEqual(['active', 'token_cert_mismatch', 'no_token', 'insufficient_scope']);
  });
});

describe('the local gateway in a bearer-only mode (jwt-hs256), REST shape', () => {
  it('decides on the token alone: any client of the truststore with a valid token passes, without one it does not', async () => {
    const secret = new TextEncoder().encode('gateway-hs256-secret-of-32-bytes!!');
    const g = await startGateway({
      registry: pki.store.registry,
      truststorePem: pki.truststorePem(),
      serverCertPem: server.certPem,
      serverKeyPem: server.keyPem,
      port: 0,
      shape: 'rest',
      mode: 'jwt-hs256',
      token: { settings: { mode: 'jwt-hs256', issuer: ISS, audience: ISS, ...TOKEN_DEFAULTS }, sources: { secrets: async () => ({ current: secret }) } },
    });
    running.push(g);
    const t = await jwt(secret, { alg: 'HS256' }, { iss: ISS, aud: ISS, sub: 'svc', exp: nowS() + 60 });
    const ok = await curl(`${g.url}orders`, clients.bob!, caFile, [`Authorization: Bearer ${t}`]);
    expect(ok.status).toBe('200');
    expect(JSON.parse(ok.body).context).toMatchObject({ sub: 'svc', mode: 'jwt-hs256' });
    expect((await curl(`${g.url}orders`, clients.bob!, caFile)).status).toBe('403');
  });
});

/** A loopback port free at the time of asking. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('ca gateway --mode mtls+token', () => {
  it('serves the local store with its published key set: issuer and audience default to the gateway URL', async () => {
    const dir = tempDir('ca-gw-token-');
    expect(ca(dir, ['bootstrap', '--json']).code).toBe(0);
    expect(ca(dir, ['issue-client', 'alice', '--json']).code).toBe(0);
    expect(ca(dir, ['issue-client', 'bob', '--json']).code).toBe(0);
    // a bearer mode without its variables is a usage error before anything listens
    const bad = ca(dir, ['gateway', '--mode', 'jwt-jwks', '--port', '0'], { CA_JWKS_URL: '', CA_JWT_ISSUER: 'https://i.test', CA_JWT_AUDIENCE: 'https://a.test' });
    expect(bad.code, bad.stderr).toBe(2);
    expect(bad.stderr).toMatch(/error: failed to configure mode jwt-jwks: CA_JWKS_URL is not set/);
    expect(ca(dir, ['gateway', '--mode', 'oauth', '--port', '0']).code).toBe(2);
    mkdirSync(join(dir, 'pki', 'token'), { recursive: true });
    writeFileSync(join(dir, 'pki', 'token', 'jwks.json'), JSON.stringify(keySetOf(key)));
    const port = await freePort();
    const child = spawn(process.execPath, [BIN, 'gateway', '--mode', 'mtls+token', '--port', String(port), '--json', '--quiet'], {
      cwd: dir,
      env: { ...process.env, CA_PASSPHRASE: PASSPHRASE, NO_COLOR: '1', CA_TOKEN_ISSUER: '', CA_TOKEN_AUDIENCE: '', CA_AUTHORIZER_MODE: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
    try {
      let stderr = '';
      child.stderr.on('data', (d) => (stderr += d));
      const first = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (d) => {
          out += d;
          // one JSON document, printed once the gateway listens
          try {
            JSON.parse(out);
            resolve(out);
          } catch {
            // not complete yet
          }
        });
        child.once('exit', (code) => reject(new Error(`ca gateway exited ${code}: ${stderr}`)));
      });
      const doc = JSON.parse(first) as Record<string, unknown>;
      // the closed schema of `ca gateway --json` (schemas/cli/gateway.schema.json)
      validateOutput(['gateway', '--mode', 'mtls+token', '--json'], 0, doc);
      expect(doc).toMatchObject({ mode: 'mtls+token', port, url: `https://localhost:${port}/` });
      const bundles = join(dir, 'bundles');
      const alice = { cert: join(bundles, 'alice', 'alice.crt'), key: join(bundles, 'alice', 'alice.key') };
      const bob = { cert: join(bundles, 'bob', 'bob.crt'), key: join(bundles, 'bob', 'bob.key') };
      const iss = `https://localhost:${port}`;
      const token = await accessToken(key, { clientId: 'alice', certPem: await readFile(alice.cert, 'utf8'), nowS: nowS(), over: { iss, aud: iss } });
      const cacert = join(dir, 'pki', 'truststore.pem');
      expect((await curl(`${iss}/orders`, alice, cacert, [`Authorization: Bearer ${token}`])).status).toBe('200');
      expect((await curl(`${iss}/orders`, bob, cacert, [`Authorization: Bearer ${token}`])).status).toBe('403');
    } finally {
      clearTimeout(kill);
      child.kill('SIGTERM');
      await new Promise((r) => (child.exitCode === null ? child.once('exit', r) : r(undefined)));
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
