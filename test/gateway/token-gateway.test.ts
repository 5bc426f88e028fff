import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGateway, type RunningGateway } from '../../src/gateway/server.js';
import { issueServerCertificate } from '../../src/gateway/server-cert.js';
import { FileTokenKeyCustody, FileTokenKeySet } from '../../src/adapters/local/file-token-keys.js';
import { issueClient } from '../../src/domain/issuance.js';
import { revoke } from '../../src/domain/revocation.js';
import { systemClock } from '../../src/domain/context.js';
import { createTokenEndpoint } from '../../src/domain/token-endpoint.js';
import { currentSigningKey, jwksOf } from '../../src/domain/token-keys.js';
import { makePki, type TestPki } from '../lambda/pki.js';

/** The gateway's token routes with a REST-shaped authorizer event in front of POST /token (curl covers v2: test/e2e/token.test.ts). */
let pki: TestPki;
let gw: RunningGateway;
let caFile: string;
const files: Record<string, { cert: Buffer; key: Buffer }> = {};

function call(path: string, o: { client?: string; body?: string; method?: string; contentType?: string } = {}): Promise<{ status?: number; headers?: Record<string, unknown>; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      `${gw.url}${path.replace(/^\//, '')}`,
      {
        method: o.method ?? (o.body === undefined ? 'GET' : 'POST'),
        ca: readFileSync(caFile),
        ...(o.client ? files[o.client] : {}),
        agent: false,
        timeout: 20_000,
        headers: o.body === undefined ? {} : { 'content-type': o.contentType ?? 'application/x-www-form-urlencoded' },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body }));
      },
    );
    req.on('error', (e) => resolve({ body: `error: ${e.message}` }));
    req.end(o.body);
  });
}

beforeAll(async () => {
  pki = await makePki({ name: 'ca-token-gw' });
  for (const id of ['acme', 'gone']) {
    await issueClient(pki.ctx(), { clientId: id, scopes: ['s1'], audiences: ['https://api.example.com'] });
    files[id] = { cert: readFileSync(join(pki.dir, 'out', id, `${id}.crt`)), key: readFileSync(join(pki.dir, 'out', id, `${id}.key`)) };
  }
  await revoke(pki.ctx(), { clientId: 'gone', reason: 'keyCompromise' });
  const keys = { custody: new FileTokenKeyCustody(pki.store.dir, async () => 'test-passphrase-123'), set: new FileTokenKeySet(pki.store.dir) };
  const deps = { ...keys, clock: systemClock, lock: { assertHeld: async () => undefined } };
  const s = await issueServerCertificate(pki.ctx());
  caFile = join(pki.dir, 'ca-for-clients.pem');
  writeFileSync(caFile, pki.truststorePem());
  gw = await startGateway({
    registry: pki.store.registry,
    truststorePem: pki.truststorePem(),
    serverCertPem: s.certificatePem + s.chainPem,
    serverKeyPem: s.privateKeyPem,
    port: 0,
    shape: 'rest',
    cacheTtlMs: 0,
    log: () => {},
    tokenEndpoint: createTokenEndpoint({
      registry: pki.store.registry,
      log: () => {},
      jwks: async () => jwksOf(await keys.set.load()),
      signer: async () => keys.custody.signer(await currentSigningKey(deps, { create: true })),
    }),
  });
}, 60_000);

afterAll(async () => {
  await gw?.close();
  pki?.cleanup();
});

describe('ca gateway token routes (REST shape)', () => {
  it('POST /token behind the authorizer: a token for an accepted client, 403 from the authorizer for a revoked one', async () => {
    const ok = await call('/token', { client: 'acme', body: 'grant_type=client_credentials' });
    expect(ok.status, ok.body).toBe(200);
    expect(ok.headers!['cache-control']).toBe('no-store');
    const claims = JSON.parse(Buffer.from(JSON.parse(ok.body).access_token.split('.')[1], 'base64url').toString());
    expect(claims).toMatchObject({ iss: `https://localhost:${gw.port}`, sub: 'acme', scope: 's1' });
    const revoked = await call('/token', { client: 'gone', body: 'grant_type=client_credentials' });
    expect(revoked.status).toBe(403);
    expect(revoked.body).not.toMatch(/access_token/);
  });

  it('serves the JWKS and the metadata; an RFC 6749 error passes through with its status', async () => {
    const jwks = await call('/.well-known/jwks.json', { client: 'acme' });
    expect(jwks.headers!['content-type']).toBe('application/jwk-set+json');
    expect(JSON.parse(jwks.body).keys).toHaveLength(1);
    const meta = JSON.parse((await call('/.well-known/oauth-authorization-server', { client: 'acme' })).body);
    expect(meta.token_endpoint).toBe(`https://localhost:${gw.port}/token`);
    const bad = await call('/token', { client: 'acme', body: 'grant_type=client_credentials', contentType: 'text/plain' });
    expect([bad.status, JSON.parse(bad.body).error]).toEqual([400, 'invalid_request']);
    // other paths stay authorizer routes
    const other = await call('/orders', { client: 'acme' });
    expect([other.status, JSON.parse(other.body).authorized]).toEqual([200, true]);
  });
});
