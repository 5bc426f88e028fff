import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { issueServerCertificate } from '../../src/gateway/server-cert.js';
import { revoke } from '../../src/domain/revocation.js';
import { makePki, type TestPki } from '../lambda/pki.js';
import { after, cleanupAll, DAY, epoch, makeCa } from '../helpers/pki.js';

let pki: TestPki;
let foreign: TestPki;
let caFile: string;
let server: { certPem: string; keyPem: string };
const logs: Record<string, unknown>[] = [];
const running: RunningGateway[] = [];

interface Client {
  cert: string;
  key: string;
}
const clients: Record<string, Client> = {};

beforeAll(async () => {
  pki = await makePki({ name: 'ca-gateway' });
  foreign = await makePki({ name: 'ca-gateway-foreign' });
  for (const id of ['alice', 'bob', 'carol', 'dave']) {
    const c = await pki.issue(id);
    clients[id] = { cert: c.certPath, key: c.keyPath };
  }
  const f = await foreign.issue('alice');
  clients.stranger = { cert: f.certPath, key: f.keyPath };
  const s = await issueServerCertificate(pki.ctx());
  server = { certPem: s.certificatePem + s.chainPem, keyPem: s.privateKeyPem };
  caFile = join(pki.dir, 'truststore-for-clients.pem');
  writeFileSync(caFile, pki.truststorePem());
});

afterAll(async () => {
  for (const g of running) await g.close();
  pki?.cleanup();
  foreign?.cleanup();
});

async function start(o: Partial<Parameters<typeof startGateway>[0]> = {}): Promise<RunningGateway> {
  const g = await startGateway({
    registry: pki.store.registry,
    truststorePem: pki.truststorePem(),
    serverCertPem: server.certPem,
    serverKeyPem: server.keyPem,
    port: 0,
    cacheTtlMs: 0,
    log: (e) => logs.push(e as Record<string, unknown>),
    ...o,
  });
  running.push(g);
  return g;
}

/** curl as a real client; asynchronous, since the gateway runs in this process. */
function curl(url: string, client?: Client): Promise<{ exitCode: number; status: string; body: string }> {
  const args = ['-sS', '--max-time', '20', '--cacert', caFile, '-o', '-', '-w', '\n%{http_code}'];
  if (client) args.push('--cert', client.cert, '--key', client.key);
  args.push(url);
  return new Promise((resolve) => {
    execFile('curl', args, { encoding: 'utf8' }, (err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ exitCode: err ? ((err as { code?: number }).code ?? -1) : 0, status: stdout.slice(i + 1), body: stdout.slice(0, i) });
    });
  });
}

/** Node's https client doing the same. */
function nodeGet(url: string, client?: Client): Promise<{ status?: number; body?: string; error?: string }> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        ca: readFileSync(caFile),
        ...(client ? { cert: readFileSync(client.cert), key: readFileSync(client.key) } : {}),
        agent: false,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, body }));
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end();
  });
}

describe('the local gateway, HTTP API payload 2.0, with curl', () => {
  it('serves a certificate for localhost that curl verifies against the CA', async () => {
    const g = await start();
    expect(g.url).toBe(`https://localhost:${g.port}/`);
    const x = new X509Certificate(server.certPem);
    expect(x.subjectAltName).toContain('DNS:localhost');
    expect(x.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(x.checkHost('localhost')).toBe('localhost');
    // an independent validator: OpenSSL's strict RFC 5280 checks and the TLS server purpose
    const leaf = join(pki.dir, 'server-leaf.pem');
    writeFileSync(leaf, x.toString());
    const out = execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', caFile, leaf], { encoding: 'utf8' });
    expect(out.trim()).toBe(`${leaf}: OK`);
  });

  it('the server certificate keeps the CA profile: its CA\'s organization and an RSA key under an RSA CA, whatever this run\'s settings say', async () => {
    const rsa = await makeCa({ policy: { organization: 'Acme Corp', caKeyType: 'rsa-3072', clientKeyType: 'rsa-2048' } });
    try {
      // the run's settings are the defaults (O=Example Org): the certificate still carries the CA's O=
      const s = await issueServerCertificate(rsa.ctx(undefined, { organization: 'Example Org' }), { keyType: 'rsa-2048' });
      const x = new X509Certificate(s.certificatePem);
      expect(x.subject).toBe('O=Acme Corp\nCN=localhost');
      const leaf = join(rsa.dir, 'server-rsa.pem');
      const chain = join(rsa.dir, 'server-chain.pem');
      writeFileSync(leaf, s.certificatePem);
      writeFileSync(chain, s.chainPem);
      // the test CA lives at the fixed instant T0
      const out = execFileSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslserver', '-attime', epoch(after(DAY)), '-CAfile', chain, leaf], { encoding: 'utf8' });
      expect(out.trim()).toBe(`${leaf}: OK`);
      // RSA key exchange in TLS 1.2 needs keyEncipherment beside digitalSignature
      expect(execFileSync('openssl', ['x509', '-in', leaf, '-noout', '-ext', 'keyUsage'], { encoding: 'utf8' })).toMatch(/Digital Signature, Key Encipherment/);
    } finally {
      cleanupAll();
    }
  });

  it('answers 200 with the context for a valid certificate, then 403 once it is revoked', async () => {
    const g = await start();
    const ok = await curl(`${g.url}orders?limit=1`, clients.alice);
    expect(ok.exitCode).toBe(0);
    expect(ok.status).toBe('200');
    const body = JSON.parse(ok.body);
    expect(body.authorized).toBe(true);
    expect(body.context).toMatchObject({ clientId: 'alice' });
    expect(body.context.serial).toMatch(/^[0-9a-f]+$/);
    expect(body.context.x5tS256).toMatch(/^[A-Za-z0-9_-]{43}$/);

    await revoke(pki.ctx(), { clientId: 'alice' });
    const denied = await curl(`${g.url}orders`, clients.alice);
    expect(denied.exitCode).toBe(0);
    expect(denied.status).toBe('403');
    expect(JSON.parse(denied.body)).toEqual({ message: 'Forbidden' });
  });

  it('refuses the handshake for a foreign CA certificate and for no certificate', async () => {
    const g = await start();
    for (const client of [clients.stranger, undefined]) {
      const r = await curl(g.url, client);
      expect(r.exitCode).not.toBe(0);
      // In TLS 1.3 the client finishes its side of the handshake before the server checks its certificate, so
      // curl sees the refusal as a failed handshake (35), a failed receive (56) or an empty reply (52).
      expect([35, 52, 56]).toContain(r.exitCode);
      expect(r.status).toBe('000');
    }
  });

  it('evaluates an IAM policy response too', async () => {
    const g = await start({ responseMode: 'iam' });
    const r = await curl(`${g.url}x`, clients.bob);
    expect(r.status).toBe('200');
    expect(JSON.parse(r.body).context.clientId).toBe('bob');
  });
});

describe('the local gateway, REST shape, with Node https', () => {
  it('allows, denies after revocation, and refuses foreign and missing certificates', async () => {
    const g = await start({ shape: 'rest' });
    const ok = await nodeGet(`${g.url}items/1?a=1&a=2`, clients.carol);
    expect(ok.status).toBe(200);
    expect(JSON.parse(ok.body!).context.clientId).toBe('carol');

    await revoke(pki.ctx(), { clientId: 'carol' });
    const denied = await nodeGet(`${g.url}items/1`, clients.carol);
    expect(denied.status).toBe(403);

    for (const client of [clients.stranger, undefined]) {
      const r = await nodeGet(g.url, client);
      expect(r.status).toBeUndefined();
      expect(r.error).toBeTruthy();
    }
  });

  it('builds REST events the authorizer accepts, and logs no PEM', async () => {
    const before = logs.length;
    const g = await start({ shape: 'rest' });
    expect((await nodeGet(`${g.url}a/b`, clients.dave)).status).toBe(200);
    const mine = logs.slice(before);
    expect(mine.some((e) => e.msg === 'authorizer decision' && e.shape === 'rest' && e.decision === 'Allow')).toBe(true);
    expect(mine.some((e) => e.msg === 'gateway request' && e.status === 200)).toBe(true);
    expect(JSON.stringify(logs)).not.toContain('BEGIN');
  });
});
