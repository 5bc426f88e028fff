import { X509Certificate, createHash } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { FileTokenKeyCustody, FileTokenKeySet } from '../../src/adapters/local/file-token-keys.js';
import { issueClient, renew } from '../../src/domain/issuance.js';
import { revoke } from '../../src/domain/revocation.js';
import { fixedClock, systemClock } from '../../src/domain/context.js';
import { currentSigningKey, jwksOf, JWKS_CACHE_WINDOW_MS, pruneTokenKeys, rotateTokenKey } from '../../src/domain/token-keys.js';
import { createTokenEndpoint, parseForm, type HttpRequest, type TokenEndpointDeps } from '../../src/domain/token-endpoint.js';
import { createTokenHandler, requestOfEvent } from '../../src/lambda/token-service.js';
import type { Clock } from '../../src/ports.js';
import { clientCertOf } from './events.js';
import { at, DAY, makePki, T0, type TestPki } from './pki.js';
import { pyjwtVerify } from '../helpers/pyjwt.js';

const ISSUER = 'https://auth.example.com';
const AUD = 'https://api.example.com';
const FORM = 'application/x-www-form-urlencoded';

let pki: TestPki;
let keys: { custody: FileTokenKeyCustody; set: FileTokenKeySet };
const pem: Record<string, string> = {};

function depsAt(clock: Clock, extra: Partial<TokenEndpointDeps> = {}): TokenEndpointDeps {
  const d = { ...keys, clock, lock: { assertHeld: async () => undefined } };
  return {
    registry: pki.store.registry,
    clock,
    config: { issuer: ISSUER, defaultAudience: AUD },
    log: () => {},
    jwks: async () => jwksOf(await keys.set.load()),
    signer: async () => keys.custody.signer(await currentSigningKey(d, { create: true })),
    ...extra,
  };
}

/** An HTTP API payload 2.0 integration event for POST /token, the body base64 as API Gateway sends it. */
function v2Event(o: { body?: string; cert?: string; contentType?: string; method?: string; path?: string }) {
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: o.path ?? '/token',
    rawQueryString: '',
    headers: { 'content-type': o.contentType ?? FORM, host: 'auth.example.com' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api',
      ...(o.cert ? { authentication: { clientCert: clientCertOf(o.cert) } } : {}),
      domainName: 'auth.example.com',
      http: { method: o.method ?? 'POST', path: o.path ?? '/token', protocol: 'HTTP/1.1', sourceIp: '203.0.113.9', userAgent: 'curl' },
      requestId: 'r',
      routeKey: '$default',
      stage: '$default',
      time: '01/Mar/2026:12:00:00 +0000',
      timeEpoch: 0,
    },
    body: Buffer.from(o.body ?? '').toString('base64'),
    isBase64Encoded: true,
  };
}

/** A REST API proxy integration event (stage prod) for POST /token. */
function restEvent(o: { body?: string; cert?: string }) {
  return {
    resource: '/token',
    path: '/token',
    httpMethod: 'POST',
    headers: { 'Content-Type': `${FORM}; charset=UTF-8` },
    multiValueHeaders: { 'Content-Type': [`${FORM}; charset=UTF-8`] },
    queryStringParameters: null,
    requestContext: { stage: 'prod', path: '/prod/token', domainName: 'auth.example.com', identity: { sourceIp: '203.0.113.9', ...(o.cert ? { clientCert: clientCertOf(o.cert) } : {}) } },
    body: o.body ?? '',
    isBase64Encoded: false,
  };
}

async function post(body: string, cert: string | undefined, clock: Clock = systemClock, extra: Partial<TokenEndpointDeps> = {}) {
  const r = await createTokenHandler(depsAt(clock, extra))(v2Event({ body, cert }));
  return { ...r, json: JSON.parse(r.body) as Record<string, any> };
}

beforeAll(async () => {
  pki = await makePki({ name: 'ca-token' });
  keys = { custody: new FileTokenKeyCustody(pki.store.dir, async () => 'test-passphrase-123'), set: new FileTokenKeySet(pki.store.dir) };
  const issue = async (id: string, o: Parameters<typeof issueClient>[1] | object = {}, when = T0) => (await issueClient(pki.ctx(when), { clientId: id, ...o })).record!;
  pem.acme = (await issue('acme', { scopes: ['orders:read', 'orders:write'], audiences: [AUD, 'https://billing.example.com'] })).certificatePem;
  pem.plain = (await issue('plain')).certificatePem;
  pem.revoked = (await issue('revoked', { scopes: ['a'] })).certificatePem;
  await revoke(pki.ctx(at(1000)), { clientId: 'revoked', reason: 'keyCompromise' });
  pem.old = (await issue('rolled', { scopes: ['a'] })).certificatePem;
  pem.rolled = (await renew(pki.ctx(at(1000)), { clientId: 'rolled' })).renewed[0]!.record!.certificatePem;
}, 60_000);

afterAll(() => pki?.cleanup());

describe('POST /token (client credentials over mutual TLS)', () => {
  it('issues an RFC 9068 access token bound to the certificate, which PyJWT verifies against our JWKS field by field', async () => {
    const r = await post('grant_type=client_credentials&client_id=acme', pem.acme);
    expect(r.statusCode).toBe(200);
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers.pragma).toBe('no-cache');
    expect(r.headers['content-type']).toMatch(/^application\/json/);
    expect(Object.keys(r.json).sort()).toEqual(['access_token', 'expires_in', 'scope', 'token_type']);
    expect(r.json).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'orders:read orders:write' });
    const jwks = JSON.parse(readFileSync(keys.set.jwksPath, 'utf8'));
    const v = pyjwtVerify(r.json.access_token, jwks, { audience: AUD, issuer: ISSUER, now: Math.floor(Date.now() / 1000) });
    expect(v.error).toBeUndefined();
    expect(v.header).toEqual({ alg: 'ES256', typ: 'at+jwt', kid: jwks.keys[0].kid });
    const x = new X509Certificate(pem.acme);
    const c = v.claims!;
    expect(Object.keys(c).sort()).toEqual(['aud', 'client_id', 'cnf', 'exp', 'iat', 'iss', 'jti', 'scope', 'sub']);
    expect(c.iss).toBe(ISSUER);
    expect(c.sub).toBe('acme');
    expect(c.client_id).toBe('acme');
    expect(c.aud).toEqual([AUD, 'https://billing.example.com']);
    expect(c.scope).toBe('orders:read orders:write');
    expect(c.exp - c.iat).toBe(300);
    expect(Math.abs(c.iat - Date.now() / 1000)).toBeLessThan(60);
    expect(c.jti).toMatch(/^[0-9a-f-]{36}$/);
    expect(c.cnf).toEqual({ 'x5t#S256': createHash('sha256').update(x.raw).digest('base64url') });
    // a second token has another jti
    const again = await post('grant_type=client_credentials', pem.acme);
    expect(pyjwtVerify(again.json.access_token, jwks, { audience: AUD, issuer: ISSUER }).claims!.jti).not.toBe(c.jti);
  });

  it('grants a requested subset of the recorded scopes, all of them when none is asked, and refuses any other (invalid_scope)', async () => {
    const sub = await post('grant_type=client_credentials&scope=orders%3Aread', pem.acme);
    expect(sub.json.scope).toBe('orders:read');
    const refused = await post('grant_type=client_credentials&scope=orders:read+admin', pem.acme);
    expect(refused.statusCode).toBe(400);
    expect(refused.json).toEqual({ error: 'invalid_scope', error_description: 'scope not granted to this client: admin' });
    expect(refused.headers['cache-control']).toBe('no-store');
    const malformed = await post('grant_type=client_credentials&scope=a++b', pem.acme);
    expect(malformed.json.error).toBe('invalid_scope');
  });

  it('a client without recorded audiences gets CA_TOKEN_AUDIENCE; without either it is unauthorized_client', async () => {
    const r = await post('grant_type=client_credentials', pem.plain);
    const jwks = jwksOf(await keys.set.load());
    expect(pyjwtVerify(r.json.access_token, jwks, { audience: AUD, issuer: ISSUER }).claims).toMatchObject({ aud: AUD, scope: '' });
    const none = await post('grant_type=client_credentials', pem.plain, systemClock, { config: { issuer: ISSUER } });
    expect(none.statusCode).toBe(400);
    expect(none.json.error).toBe('unauthorized_client');
  });

  it('exp is never later than the certificate\'s own end, nor than a superseded certificate\'s grace end', async () => {
    const x = new X509Certificate(pem.acme);
    const end = Date.parse(x.validTo);
    const r = await post('grant_type=client_credentials', pem.acme, fixedClock(new Date(end - 100_000)));
    expect(r.statusCode).toBe(200);
    const claims = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url').toString());
    expect(claims.exp).toBe(Math.floor(end / 1000));
    expect(r.json.expires_in).toBe(claims.exp - claims.iat);
    const old = (await pki.store.registry.get(new X509Certificate(pem.old).serialNumber.toLowerCase()))!;
    const g = Date.parse(old.graceUntil!);
    const inGrace = await post('grant_type=client_credentials', pem.old, fixedClock(new Date(g - 10_000)));
    expect(inGrace.statusCode).toBe(200);
    expect(inGrace.json.expires_in).toBe(10);
  });

  it('serves REST proxy events (identity.clientCert, plain body, charset parameter) the same way', async () => {
    const r = await createTokenHandler(depsAt(systemClock))(restEvent({ body: 'grant_type=client_credentials', cert: pem.acme }));
    expect(r.statusCode).toBe(200);
    expect(requestOfEvent(restEvent({ cert: pem.acme }))).toMatchObject({ method: 'POST', path: '/token', domainName: 'auth.example.com' });
  });

  it('derives the issuer from the custom domain when CA_TOKEN_ISSUER is not set', async () => {
    const r = await post('grant_type=client_credentials', pem.acme, systemClock, { config: { defaultAudience: AUD } });
    const claims = JSON.parse(Buffer.from(r.json.access_token.split('.')[1], 'base64url').toString());
    expect(claims.iss).toBe('https://auth.example.com');
  });
});

describe('refusals: RFC 6749 section 5.2 errors with the right status', () => {
  const cases: [string, () => Promise<{ statusCode: number; json: Record<string, any> }>, number, string][] = [
    ['revoked certificate asks for a token', () => post('grant_type=client_credentials', pem.revoked), 401, 'invalid_client'],
    ['superseded certificate past its grace period', async () => {
      const old = (await pki.store.registry.get(new X509Certificate(pem.old).serialNumber.toLowerCase()))!;
      return post('grant_type=client_credentials', pem.old, fixedClock(new Date(Date.parse(old.graceUntil!) + 1000)));
    }, 401, 'invalid_client'],
    ['client_id that is not the certificate\'s', () => post('grant_type=client_credentials&client_id=plain', pem.acme), 401, 'invalid_client'],
    ['no client certificate', () => post('grant_type=client_credentials', undefined), 401, 'invalid_client'],
    ['a certificate this CA never issued (same subject, other key)', async () => {
      const other = await makePki({ name: 'ca-token-other' });
      try {
        return await post('grant_type=client_credentials', (await other.issue('acme')).record.certificatePem);
      } finally {
        other.cleanup();
      }
    }, 401, 'invalid_client'],
    ['wrong grant type', () => post('grant_type=password&username=a&password=b', pem.acme), 400, 'unsupported_grant_type'],
    ['no grant type', () => post('scope=orders:read', pem.acme), 400, 'invalid_request'],
    ['a parameter twice', () => post('grant_type=client_credentials&grant_type=client_credentials', pem.acme), 400, 'invalid_request'],
    ['malformed percent-encoding', () => post('grant_type=client%ZZcredentials', pem.acme), 400, 'invalid_request'],
    ['invalid UTF-8', () => post('grant_type=client_credentials&scope=%C3%28', pem.acme), 400, 'invalid_request'],
    ['JSON instead of a form', async () => {
      const r = await createTokenHandler(depsAt(systemClock))(v2Event({ body: '{"grant_type":"client_credentials"}', cert: pem.acme, contentType: 'application/json' }));
      return { ...r, json: JSON.parse(r.body) };
    }, 400, 'invalid_request'],
    ['GET /token', async () => {
      const r = await createTokenHandler(depsAt(systemClock))(v2Event({ method: 'GET', cert: pem.acme }));
      return { ...r, json: JSON.parse(r.body) };
    }, 400, 'invalid_request'],
    ['a body over 8 KiB', () => post(`grant_type=client_credentials&x=${'a'.repeat(9000)}`, pem.acme), 400, 'invalid_request'],
    ['another path routed to the function', async () => {
      const r = await createTokenHandler(depsAt(systemClock))(v2Event({ path: '/token/x', body: 'grant_type=client_credentials', cert: pem.acme }));
      return { ...r, json: JSON.parse(r.body) };
    }, 404, 'invalid_request'],
    ['not an event at all', async () => {
      const r = await createTokenHandler(depsAt(systemClock))('nonsense');
      return { ...r, json: JSON.parse(r.body) };
    }, 400, 'invalid_request'],
  ];
  for (const [name, run, status, error] of cases) {
    it(`${name}: ${status} ${error}`, async () => {
      const r = await run();
      expect(r.statusCode).toBe(status);
      expect(r.json.error).toBe(error);
      expect(typeof r.json.error_description).toBe('string');
      expect(r.json.access_token).toBeUndefined();
    });
  }

  it('a signing failure or a registry failure is a 500 server_error, never a token nor an exception', async () => {
    const broken = await post('grant_type=client_credentials', pem.acme, systemClock, { signer: async () => Promise.reject(new Error('kms down')) });
    expect(broken.statusCode).toBe(500);
    expect(broken.json.error).toBe('server_error');
    const reg = await post('grant_type=client_credentials', pem.acme, systemClock, { registry: { get: async () => Promise.reject(new Error('ddb down')) } });
    expect(reg.json.error).toBe('server_error');
  });
});

describe('discovery: the JWKS and the RFC 8414 metadata', () => {
  it('serves the key set and the metadata with cache headers that fit the rotation rule', async () => {
    const h = createTokenHandler(depsAt(systemClock));
    const j = await h(v2Event({ method: 'GET', path: '/.well-known/jwks.json' }));
    expect(j.statusCode).toBe(200);
    expect(j.headers['cache-control']).toBe('public, max-age=60');
    // the JWKS max-age is part of the rotation's window: a cached response can never hide a key that signs
    expect(60_000).toBeLessThanOrEqual(JWKS_CACHE_WINDOW_MS - 630_000);
    expect(JSON.parse(j.body)).toEqual(JSON.parse(readFileSync(keys.set.jwksPath, 'utf8')));
    for (const k of JSON.parse(j.body).keys) expect(Object.keys(k).sort()).toEqual(['alg', 'crv', 'kid', 'kty', 'use', 'x', 'y']);
    const m = await h(v2Event({ method: 'GET', path: '/.well-known/oauth-authorization-server' }));
    expect(m.headers['cache-control']).toBe('public, max-age=3600');
    expect(JSON.parse(m.body)).toEqual({
      issuer: ISSUER,
      token_endpoint: `${ISSUER}/token`,
      jwks_uri: `${ISSUER}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['tls_client_auth'],
      tls_client_certificate_bound_access_tokens: true,
    });
  });
});

describe('token key custody on the local store', () => {
  it('keeps keys as encrypted PKCS#8 files, mode 0600, that openssl opens with the CA passphrase only', async () => {
    const entry = await currentSigningKey({ ...keys, clock: systemClock, lock: { assertHeld: async () => undefined } }, { create: true });
    const path = keys.custody.describeKey(entry.keyRef);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readFileSync(path, 'utf8')).toMatch(/^-----BEGIN ENCRYPTED PRIVATE KEY-----/);
    expect(statSync(keys.set.keysPath).mode & 0o777).toBe(0o600);
    const ossl = (pass: string) => spawnSync('openssl', ['pkey', '-in', path, '-passin', `pass:${pass}`, '-noout', '-text'], { encoding: 'utf8', timeout: 30_000 });
    expect(ossl('test-passphrase-123').stdout).toMatch(/NIST CURVE: P-256|prime256v1/);
    expect(ossl('wrong-passphrase-000').status).not.toBe(0);
    const wrong = new FileTokenKeyCustody(pki.store.dir, async () => 'wrong-passphrase-000');
    await expect(wrong.signer(entry)).rejects.toMatchObject({ code: 'invalidInput' });
  });
});

describe('key rotation: a token keeps verifying until it expires, then its key leaves the JWKS', () => {
  it('follows the rule with a fixed clock, checked by jose and PyJWT', async () => {
    const t = pki.ctx().clock.now().getTime() + DAY; // a clock of our own, past the keys the other tests made
    const clock = (ms: number) => fixedClock(new Date(t + ms));
    const d = (ms: number) => ({ ...keys, clock: clock(ms), lock: { assertHeld: async () => undefined } });
    const token = async (ms: number) => (await post('grant_type=client_credentials', pem.acme, clock(ms))).json.access_token as string;
    const kidOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()).kid as string;
    const verifies = async (jwt: string, ms: number) => {
      const jwks = jwksOf(await keys.set.load());
      try {
        await jwtVerify(jwt, createLocalJWKSet(jwks), { issuer: ISSUER, audience: AUD, algorithms: ['ES256'], typ: 'at+jwt', currentDate: new Date(t + ms) });
      } catch {
        return false;
      }
      return pyjwtVerify(jwt, jwks, { audience: AUD, issuer: ISSUER, now: Math.floor((t + ms) / 1000) }).ok;
    };
    await pruneTokenKeys(d(0));
    const before = await token(0);
    const oldKid = kidOf(before);
    const rotated = await rotateTokenKey(d(1000));
    const newKid = rotated.added!.kid;
    // published at once, not yet signing: tokens signed until activateAt still carry the old key
    expect(jwksOf(await keys.set.load()).keys.map((k) => k.kid)).toContain(newKid);
    const last = await token(1000 + JWKS_CACHE_WINDOW_MS - 1000);
    expect(kidOf(last)).toBe(oldKid);
    expect(kidOf(await token(1000 + JWKS_CACHE_WINDOW_MS))).toBe(newKid);
    expect(await verifies(before, 200_000)).toBe(true);
    expect(await verifies(last, 1000 + JWKS_CACHE_WINDOW_MS + 200_000)).toBe(true);
    // prune before the last old token expired: the old key stays
    const retireAt = Date.parse(rotated.entries.find((e) => e.kid === oldKid)!.retireAfter!) - t;
    expect((await pruneTokenKeys(d(retireAt - 1))).removed).toEqual([]);
    expect(await verifies(last, 1000 + JWKS_CACHE_WINDOW_MS + 290_000)).toBe(true);
    // after every old token expired, prune removes it: the JWKS no longer has it (and nothing valid needed it)
    const pruned = await pruneTokenKeys(d(retireAt));
    expect(pruned.removed.map((e) => e.kid)).toEqual([oldKid]);
    expect(jwksOf(await keys.set.load()).keys.map((k) => k.kid)).toEqual([newKid]);
    expect(await verifies(last, retireAt)).toBe(false);
  });
});

describe('form parsing (seeded fuzz): never throws, always an RFC 6749 error document or a token', () => {
  it('holds for random bodies, content types and events', async () => {
    let a = Number(process.env.FUZZ_SEED ?? 20261201) >>> 0;
    const rnd = () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let x = a;
      x = Math.imul(x ^ (x >>> 15), x | 1);
      x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
      return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
    };
    const int = (n: number) => Math.floor(rnd() * n);
    const pieces = ['grant_type', 'client_credentials', 'scope', 'client_id', 'acme', '=', '&', '%', '%2', '%C3', '%28', '+', ' ', '%00', '\u0000', '\u00e9', '\ud800', 'orders:read', '"', '\\', '__proto__', 'constructor'];
    const endpoint = createTokenEndpoint(depsAt(systemClock));
    const handler = createTokenHandler(depsAt(systemClock));
    const errors = new Set(['invalid_request', 'invalid_client', 'unauthorized_client', 'unsupported_grant_type', 'invalid_scope', 'server_error']);
    for (let i = 0; i < 1500; i++) {
      const body = Array.from({ length: int(12) }, () => pieces[int(pieces.length)]).join('');
      expect(() => parseForm(body)).not.toThrow();
      const req: HttpRequest = {
        method: ['POST', 'GET', 'post', 'PUT'][int(4)]!,
        path: ['/token', '/token/', '/.well-known/jwks.json'][int(3)]!,
        headers: { 'content-type': [FORM, `${FORM};charset=latin1`, 'text/plain', undefined, `${FORM}; charset="utf-8"`][int(5)] },
        body,
        clientCertPem: [pem.acme, undefined, 'garbage', '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----'][int(4)],
        domainName: 'auth.example.com',
      };
      const r = await endpoint(req);
      const doc = JSON.parse(r.body);
      if (r.statusCode === 200) expect(doc.access_token ?? doc.keys).toBeDefined();
      else {
        expect(errors.has(doc.error), JSON.stringify({ body, doc })).toBe(true);
        expect(doc.error_description).toMatch(/^[\x20\x21\x23-\x5b\x5d-\x7e]*$/);
      }
      const ev = [null, 1, 'x', [], { version: '2.0' }, { requestContext: { http: {} } }, v2Event({ body, cert: pem.acme }), { ...v2Event({ body }), isBase64Encoded: 'yes', body: { a: 1 } }][int(8)];
      const h = await handler(ev);
      expect(typeof h.statusCode).toBe('number');
      expect(() => JSON.parse(h.body)).not.toThrow();
    }
  });
});

describe('an interrupted rotation', () => {
  it('leaves the set as it was (a key made, never published); the next rotation removes that key file', async () => {
    const t = Date.now() + 30 * DAY;
    const d = { ...keys, clock: fixedClock(new Date(t)), lock: { assertHeld: async () => undefined } };
    const before = await keys.set.load();
    // what a kill between making the key and saving the set leaves: the mark, and a key file nothing records
    await keys.set.markPending(new Date(t).toISOString());
    const orphan = await keys.custody.create();
    expect(await keys.set.load()).toEqual(before);
    expect(await keys.set.pendingSince()).toBe(new Date(t).toISOString());
    const path = keys.custody.describeKey(orphan.keyRef);
    expect(statSync(path).isFile()).toBe(true);
    const r = await rotateTokenKey(d);
    expect(() => statSync(path)).toThrow();
    expect(r.swept).toEqual([orphan.keyRef]);
    expect(await keys.set.pendingSince()).toBeUndefined();
    for (const e of r.entries) expect(statSync(keys.custody.describeKey(e.keyRef)).isFile()).toBe(true);
  });
});
