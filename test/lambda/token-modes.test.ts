/**
 * The authorizer's token modes on recorded-shape events (./events.ts): mtls+token (certificate plus an access token
 * bound to it), jwt-hs256, jwt-jwks (a loopback JWKS server) and spiffe-jwt-svid (SPIRE-shaped key sets). Tokens
 * and key sets are made with jose as the token service makes them (./tokens.ts).
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createServer, type Server } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { createAuthorizer, DENY_REASONS, type AuthorizerConfig } from '../../src/lambda/authorizer.js';
import type { AuthorizerResponse } from '../../src/lambda/event.js';
import { composeAuthorizer } from '../../src/lambda/compose.js';
import { loadTokenVerifier } from '../../src/lambda/token-loader.js';
import { TOKEN_DENY_REASONS, routeKeys, type AuthorizerMode } from '../../src/lambda/token.js';
import type { TokenSettings } from '../../src/lambda/token-verifier.js';
import { TOKEN_DEFAULTS } from '../../src/lambda/config.js';
import { revoke } from '../../src/domain/revocation.js';
import type { CertificateRecord } from '../../src/ports.js';
import { at, makePki, type TestPki } from './pki.js';
import { SHAPES, clientCertOf, eventRest, eventToken, eventV1, eventV2, withAuthorization } from './events.js';
import { AUDIENCE, ISSUER, accessToken, jwt, keySetOf, signingKey, unsecured, type SigningKey } from './tokens.js';

const allowed = (r: AuthorizerResponse) => ('isAuthorized' in r ? r.isAuthorized === true : r.policyDocument.Statement.every((s) => s.Effect === 'Allow'));
const reason = (r: AuthorizerResponse) => r.context.reason;

let pki: TestPki;
let alice: CertificateRecord;
let bob: CertificateRecord;
let k1: SigningKey;
const NOW = at(60_000);
const NOW_S = Math.floor(NOW.getTime() / 1000);

beforeAll(async () => {
  pki = await makePki({ name: 'ca-token-modes' });
  alice = (await pki.issue('alice')).record;
  bob = (await pki.issue('bob')).record;
  k1 = await signingKey('k1');
}, 60_000);
afterAll(() => pki?.cleanup());

/** Wall and monotonic clocks the test moves together. */
function clocks(start = NOW) {
  let t = start.getTime();
  let mono = 1_000;
  return { now: () => new Date(t), monotonic: () => mono, advance: (ms: number) => ((t += ms), (mono += ms)) };
}

/** A key set source the test edits, counting reads; `fail` makes the next reads throw. */
function keySource(initial: object) {
  const s = { doc: initial as object, reads: 0, fail: false, read: async () => {
    s.reads++;
    if (s.fail) throw new Error('connect ECONNREFUSED');
    return structuredClone(s.doc);
  } };
  return s;
}

function settings(mode: Exclude<AuthorizerMode, 'mtls'>, over: Partial<TokenSettings> = {}): TokenSettings {
  return { mode, issuer: ISSUER, audience: AUDIENCE, ...TOKEN_DEFAULTS, ...over };
}

function tokenAuthz(o: {
  mode: Exclude<AuthorizerMode, 'mtls'>;
  settings?: Partial<TokenSettings>;
  keySet?: () => Promise<unknown>;
  jwksUrl?: string;
  secrets?: () => Promise<{ current: Uint8Array; previous?: Uint8Array }>;
  config?: AuthorizerConfig;
  clock?: ReturnType<typeof clocks>;
}) {
  const c = o.clock ?? clocks();
  const entries: Record<string, unknown>[] = [];
  const token = loadTokenVerifier(settings(o.mode, o.settings), { keySet: o.keySet, jwksUrl: o.jwksUrl, secrets: o.secrets, clock: c, monotonic: c.monotonic });
  const run = createAuthorizer({ registry: pki.store.registry, clock: c, monotonic: c.monotonic, config: { cacheTtlMs: 0, mode: o.mode, ...o.config }, log: (e) => entries.push(e as Record<string, unknown>), token });
  return Object.assign(run, { entries, last: () => entries[entries.length - 1]!, clock: c });
}

const cert = (r: CertificateRecord) => clientCertOf(r.certificatePem);
const bearer = (t: string) => `Bearer ${t}`;

describe('mtls+token', () => {
  let src: ReturnType<typeof keySource>;
  let run: ReturnType<typeof tokenAuthz>;
  let good: string;
  beforeAll(async () => {
    src = keySource(keySetOf(k1));
    run = tokenAuthz({ mode: 'mtls+token', keySet: src.read });
    good = await accessToken(k1, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S });
  });

  it.each(Object.entries(SHAPES))('allows the %s shape with a valid certificate and its bound token, the token in the context', async (_shape, make) => {
    const r = await run(withAuthorization(make(cert(alice)), bearer(good)));
    expect(allowed(r), JSON.stringify(r)).toBe(true);
    expect(r.context).toMatchObject({ clientId: 'alice', sub: 'alice', scope: 'orders:read', tokenExp: new Date((NOW_S + 300) * 1000).toISOString() });
    expect(run.last()).toMatchObject({ decision: 'Allow', reason: 'active', mode: 'mtls+token', clientId: 'alice' });
  });

  it('accepts the header name in any case and the scheme in any case (RFC 7230 §3.2, RFC 6750 §2.1)', async () => {
    expect(allowed(await run(withAuthorization(eventRest(cert(alice)), `bearer ${good}`, 'AUTHORIZATION')))).toBe(true);
  });

  it('denies without a token, with no_token, and without a certificate, with no_client_cert (a TOKEN event carries none)', async () => {
    expect(reason(await run(eventV2(cert(alice))))).toBe('no_token');
    expect(reason(await run(eventToken(bearer(good))))).toBe('no_client_cert');
    expect(reason(await run(withAuthorization(eventV2(undefined), bearer(good))))).toBe('no_client_cert');
  });

  it.each([
    ['Basic YWxpY2U6cGFzcw==', 'another scheme'],
    ['Bearer', 'no token'],
    ['Bearer a.b.c d', 'two tokens'],
    ['Bearer\ta.b.c', 'a tab'],
    ['Bearer not-a-jwt', 'not a JWS'],
    [`Bearer ${'A'.repeat(9000)}`, 'too long'],
    ['Bearer a.b.c,Bearer d.e.f', 'two joined values'],
    ['Bearer a.b.c!', 'a character outside b64token'],
  ])('denies a malformed Authorization header (%s: %s)', async (value) => {
    const r = await run(withAuthorization(eventV1(cert(alice)), value));
    expect(allowed(r)).toBe(false);
    expect(['malformed_token', 'token_bad_signature']).toContain(reason(r));
  });

  it('denies two Authorization headers and a header that is not a string', async () => {
    const two = { ...eventRest(cert(alice)), multiValueHeaders: { Authorization: [bearer(good), bearer(good)] } };
    expect(reason(await run(two))).toBe('malformed_token');
    expect(reason(await run({ ...eventV2(cert(alice)), headers: { authorization: ['Bearer x'] } }))).toBe('malformed_token');
  });

  it("denies bob's token presented with alice's certificate (RFC 8705 §3: cnf mismatch), and a token naming another client", async () => {
    const bobs = await accessToken(k1, { clientId: 'bob', certPem: bob.certificatePem, nowS: NOW_S });
    expect(allowed(await run(withAuthorization(eventV2(cert(bob)), bearer(bobs))))).toBe(true);
    const r = await run(withAuthorization(eventV2(cert(alice)), bearer(bobs)));
    expect(reason(r)).toBe('token_cert_mismatch');
    expect(run.last()).toMatchObject({ decision: 'Deny', reason: 'token_cert_mismatch', level: 'warn' });
    const renamed = await accessToken(k1, { clientId: 'bob', certPem: alice.certificatePem, nowS: NOW_S });
    expect(reason(await run(withAuthorization(eventV2(cert(alice)), bearer(renamed))))).toBe('token_client_mismatch');
  });

  it('checks the certificate first: a revoked certificate with a valid token is denied as revoked', async () => {
    const carol = (await pki.issue('carol-token')).record;
    const t = await accessToken(k1, { clientId: 'carol-token', certPem: carol.certificatePem, nowS: NOW_S });
    expect(allowed(await run(withAuthorization(eventV2(cert(carol)), bearer(t))))).toBe(true);
    await revoke(pki.ctx(at(30_000)), { clientId: 'carol-token', reason: 'keyCompromise' } as never);
    expect(reason(await run(withAuthorization(eventV2(cert(carol)), bearer(t))))).toBe('revoked');
  });

  it.each([
    ['expired', { over: { exp: NOW_S - 1, iat: NOW_S - 100 } }, 'token_expired'],
    ['not yet valid (nbf)', { over: { nbf: NOW_S + 60 } }, 'token_not_yet_valid'],
    ['issued in the future (iat)', { over: { iat: NOW_S + 60 } }, 'token_not_yet_valid'],
    ['for another audience', { over: { aud: 'https://other.example.test' } }, 'token_wrong_audience'],
    ['from another issuer', { over: { iss: 'https://evil.example.test' } }, 'token_wrong_issuer'],
    ['without typ at+jwt', { header: { typ: 'JWT' } }, 'token_wrong_type'],
    ['without cnf', { over: { cnf: undefined } }, 'token_invalid_claims'],
    ['without jti', { over: { jti: undefined } }, 'token_invalid_claims'],
    ['with a cnf that is not an object', { over: { cnf: 'x' } }, 'token_invalid_claims'],
    ['without a kid', { header: { kid: undefined } }, 'malformed_token'],
    ['with an unknown kid', { header: { kid: 'nobody' } }, 'token_unknown_kid'],
  ] as const)('denies a token %s', async (_what, o, expected) => {
    const t = await accessToken(k1, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S, ...(o as object) });
    const r = await run(withAuthorization(eventV2(cert(alice)), bearer(t)));
    expect(reason(r)).toBe(expected);
  });

  it('denies alg none, an HS256 token (algorithm confusion) and an ES384 token: the allowlist is ES256 only', async () => {
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'alice', client_id: 'alice', iat: NOW_S, exp: NOW_S + 60, jti: 'j', cnf: { 'x5t#S256': 'x' } };
    const none = unsecured(claims, { typ: 'at+jwt', kid: 'k1' });
    const hs = await jwt(new TextEncoder().encode(JSON.stringify(k1.jwk)), { alg: 'HS256', typ: 'at+jwt', kid: 'k1' }, claims);
    const k384 = await signingKey('k1', 'ES384');
    const es384 = await accessToken(k384, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S });
    for (const t of [none, hs, es384]) expect(reason(await run(withAuthorization(eventV2(cert(alice)), bearer(t))))).toBe('token_algorithm_not_allowed');
  });

  it('denies a token signed by another key under a published kid', async () => {
    const impostor = await signingKey('k1');
    const t = await accessToken(impostor, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S });
    expect(reason(await run(withAuthorization(eventV2(cert(alice)), bearer(t))))).toBe('token_bad_signature');
  });

  it('requires the scopes of the route (CA_ROUTE_SCOPES): route key, method and path, ANY, and * for the rest', async () => {
    const scoped = tokenAuthz({ mode: 'mtls+token', keySet: src.read, config: { routeScopes: { 'GET /request': ['orders:read'], 'POST /my/path': ['orders:write'], '*': ['admin'] } } });
    const read = await accessToken(k1, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S, scope: 'orders:read' });
    const both = await accessToken(k1, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S, scope: 'orders:read orders:write' });
    // payload 1.0 and REST: GET /request; payload 2.0: POST /my/path
    expect(allowed(await scoped(withAuthorization(eventV1(cert(alice)), bearer(read))))).toBe(true);
    expect(allowed(await scoped(withAuthorization(eventRest(cert(alice)), bearer(read))))).toBe(true);
    expect(reason(await scoped(withAuthorization(eventV2(cert(alice)), bearer(read))))).toBe('insufficient_scope');
    expect(allowed(await scoped(withAuthorization(eventV2(cert(alice)), bearer(both))))).toBe(true);
    const other = { ...eventV1(cert(alice)), httpMethod: 'DELETE', path: '/elsewhere', resource: '/elsewhere', methodArn: 'arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/DELETE/elsewhere' };
    expect(reason(await scoped(withAuthorization(other, bearer(both))))).toBe('insufficient_scope');
    expect(routeKeys(eventV2(undefined))).toEqual(['POST /my/path', 'ANY /my/path']);
    expect(routeKeys(eventToken())).toEqual(['GET /', 'ANY /']);
  });

  it('reads the key set once, re-reads exactly once on an unknown kid, and not again within the cooldown', async () => {
    const s = keySource(keySetOf(k1));
    const a = tokenAuthz({ mode: 'mtls+token', keySet: s.read });
    expect(allowed(await a(withAuthorization(eventV2(cert(alice)), bearer(good))))).toBe(true);
    expect(s.reads).toBe(1);
    const k2 = await signingKey('k2');
    const t2 = await accessToken(k2, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S });
    // the cooldown counts from the last read, the first one included
    a.clock.advance(TOKEN_DEFAULTS.keySetCooldownMs);
    expect(reason(await a(withAuthorization(eventV2(cert(alice)), bearer(t2))))).toBe('token_unknown_kid');
    expect(s.reads).toBe(2);
    // published now, but the cooldown holds: no read, still unknown
    s.doc = keySetOf(k1, k2);
    expect(reason(await a(withAuthorization(eventV2(cert(alice)), bearer(t2))))).toBe('token_unknown_kid');
    expect(s.reads).toBe(2);
    a.clock.advance(TOKEN_DEFAULTS.keySetCooldownMs);
    expect(allowed(await a(withAuthorization(eventV2(cert(alice)), bearer(t2))))).toBe(true);
    expect(s.reads).toBe(3);
  });

  it('caches a verified token until its exp at most: the next request after exp is denied as expired', async () => {
    const s = keySource(keySetOf(k1));
    const a = tokenAuthz({ mode: 'mtls+token', keySet: s.read });
    const short = await accessToken(k1, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S, ttlS: 10 });
    expect(allowed(await a(withAuthorization(eventV2(cert(alice)), bearer(short))))).toBe(true);
    a.clock.advance(9_000);
    expect(allowed(await a(withAuthorization(eventV2(cert(alice)), bearer(short))))).toBe(true);
    a.clock.advance(1_000);
    expect(reason(await a(withAuthorization(eventV2(cert(alice)), bearer(short))))).toBe('token_expired');
  });

  it('denies with key_set_error (an error-level line) when the key set cannot be read, and with config_error without an audience', async () => {
    const s = keySource(keySetOf(k1));
    s.fail = true;
    const a = tokenAuthz({ mode: 'mtls+token', keySet: s.read });
    expect(reason(await a(withAuthorization(eventV2(cert(alice)), bearer(good))))).toBe('key_set_error');
    expect(a.last()).toMatchObject({ level: 'error', reason: 'key_set_error' });
    const b = tokenAuthz({ mode: 'mtls+token', keySet: s.read, settings: { audience: undefined } });
    expect(reason(await b(withAuthorization(eventV2(cert(alice)), bearer(good))))).toBe('config_error');
    const env = composeAuthorizer({ CA_TABLE: 't', AWS_REGION: 'eu-west-1', CA_AUTHORIZER_MODE: 'mtls+token', CA_TOKEN_ISSUER: ISSUER }, () => pki.store.registry, { log: () => {} });
    expect(reason(await env(withAuthorization(eventV2(cert(alice)), bearer(good))))).toBe('config_error');
    const unknownMode = composeAuthorizer({ CA_TABLE: 't', AWS_REGION: 'eu-west-1', CA_AUTHORIZER_MODE: 'token' }, () => pki.store.registry, { log: () => {} });
    expect(reason(await unknownMode(eventV2(cert(alice))))).toBe('config_error');
  });

  it('keeps every deny reason in the list and in the documented tables of src/lambda/README.md', () => {
    for (const r of TOKEN_DENY_REASONS) expect(DENY_REASONS).toContain(r);
    const doc = readFileSync(join(import.meta.dirname, '../../src/lambda/README.md'), 'utf8');
    for (const r of DENY_REASONS) expect(doc, r).toContain(`\`${r}\``);
  });

  it('never logs the token, allowed or denied', async () => {
    await run(withAuthorization(eventV2(cert(alice)), bearer(good)));
    await run(withAuthorization(eventV2(cert(bob)), bearer(good)));
    const signature = good.split('.')[2]!;
    const text = JSON.stringify(run.entries);
    expect(text).not.toContain(signature);
    expect(text).not.toContain(good.split('.')[1]!);
  });
});

describe('jwt-hs256', () => {
  const current = new TextEncoder().encode('c'.repeat(32));
  const previous = new TextEncoder().encode('p'.repeat(40));
  const claims = (over: Record<string, unknown> = {}) => ({ iss: ISSUER, aud: AUDIENCE, sub: 'svc-a', iat: NOW_S, exp: NOW_S + 60, scope: 'orders:read', ...over });
  const hs = (key: Uint8Array, over: Record<string, unknown> = {}) => jwt(key, { alg: 'HS256', typ: 'JWT' }, claims(over));

  it('allows a TOKEN event (a policy) and a payload 2.0 REQUEST event without a certificate (simple), signed with the current or the previous secret', async () => {
    const a = tokenAuthz({ mode: 'jwt-hs256', secrets: async () => ({ current, previous }), config: { responseMode: 'simple' } });
    const t = await hs(current);
    const r = await a(eventToken(bearer(t)));
    expect('policyDocument' in r && r.policyDocument.Statement[0]!.Effect).toBe('Allow');
    expect(r).toMatchObject({ principalId: 'svc-a', context: { sub: 'svc-a', clientId: 'svc-a', mode: 'jwt-hs256', scope: 'orders:read' } });
    expect(await a(withAuthorization(eventV2(undefined), bearer(await hs(previous))))).toMatchObject({ isAuthorized: true });
    expect(a.last()).toMatchObject({ decision: 'Allow', reason: 'token_valid', mode: 'jwt-hs256' });
  });

  it('denies another secret, an RS256 or ES256 token, alg none, expired, wrong aud and wrong iss', async () => {
    const a = tokenAuthz({ mode: 'jwt-hs256', secrets: async () => ({ current }) });
    const rsa = await signingKey('r', 'RS256');
    const cases: [string, string][] = [
      [await hs(previous), 'token_bad_signature'],
      [await jwt(rsa.privateKey, { alg: 'RS256', kid: 'r' }, claims()), 'token_algorithm_not_allowed'],
      [await jwt(k1.privateKey, { alg: 'ES256', kid: 'k1' }, claims()), 'token_algorithm_not_allowed'],
      [unsecured(claims()), 'token_algorithm_not_allowed'],
      [await hs(current, { exp: NOW_S - 1 }), 'token_expired'],
      [await hs(current, { aud: 'x' }), 'token_wrong_audience'],
      [await hs(current, { iss: 'x' }), 'token_wrong_issuer'],
      [await hs(current, { exp: undefined }), 'token_invalid_claims'],
    ];
    for (const [t, why] of cases) expect(reason(await a(eventToken(bearer(t)))), why).toBe(why);
  });

  it('a rotation while the function is warm: a token of the new secret makes one re-read (per cooldown), then both secrets pass', async () => {
    const next = new TextEncoder().encode('n'.repeat(48));
    let pair: { current: Uint8Array; previous?: Uint8Array } = { current };
    let reads = 0;
    const a = tokenAuthz({ mode: 'jwt-hs256', secrets: async () => (reads++, pair) });
    expect(allowed(await a(eventToken(bearer(await hs(current)))))).toBe(true);
    expect(reads).toBe(1);
    pair = { current: next, previous: current };
    const fresh = await hs(next);
    // within the cooldown of the cold-start read: not read again yet
    expect(reason(await a(eventToken(bearer(fresh))))).toBe('token_bad_signature');
    expect(reads).toBe(1);
    a.clock.advance(TOKEN_DEFAULTS.keySetCooldownMs);
    expect(allowed(await a(eventToken(bearer(fresh))))).toBe(true);
    expect(reads).toBe(2);
    expect(allowed(await a(eventToken(bearer(await hs(current, { jti: 'old' })))))).toBe(true);
    // a forged token costs no further read within the cooldown
    expect(reason(await a(eventToken(bearer(await hs(previous)))))).toBe('token_bad_signature');
    expect(reads).toBe(2);
  });

  it('refuses a secret shorter than 32 bytes and a missing secret source: config_error, fail closed', async () => {
    const short = tokenAuthz({ mode: 'jwt-hs256', secrets: async () => ({ current: current.slice(0, 31) }) });
    expect(reason(await short(eventToken(bearer(await jwt(current.slice(0, 31), { alg: 'HS256' }, claims())))))).toBe('config_error');
    expect(short.last()).toMatchObject({ level: 'error', reason: 'config_error' });
    const none = tokenAuthz({ mode: 'jwt-hs256' });
    expect(reason(await none(eventToken(bearer(await hs(current)))))).toBe('config_error');
    // no default secret: the environment must name one
    const env = composeAuthorizer({ AWS_REGION: 'eu-west-1', CA_AUTHORIZER_MODE: 'jwt-hs256', CA_JWT_ISSUER: ISSUER, CA_JWT_AUDIENCE: AUDIENCE }, () => pki.store.registry, { log: () => {} });
    expect(reason(await env(eventToken(bearer(await hs(current)))))).toBe('config_error');
  });

  it('denies a TOKEN event without a token or with a malformed one, and a malformed event', async () => {
    const a = tokenAuthz({ mode: 'jwt-hs256', secrets: async () => ({ current }) });
    expect(reason(await a(eventToken('')))).toBe('no_token');
    expect(reason(await a(eventToken('allow')))).toBe('malformed_token');
    expect(reason(await a({ type: 'TOKEN', authorizationToken: 'Bearer x' }))).toBe('malformed_event');
    expect(reason(await a(null))).toBe('malformed_event');
  });
});

/** A loopback JWKS endpoint counting its GETs; `keys` is what it serves. */
async function jwksServer(keys: object) {
  const s = { keys, gets: 0, server: undefined as unknown as Server, url: '' };
  s.server = createServer((req, res) => {
    s.gets++;
    const body = JSON.stringify(s.keys);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => s.server.listen(0, '127.0.0.1', r));
  s.url = `http://127.0.0.1:${(s.server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return s;
}
const stop = (srv: Server) => new Promise<void>((r) => { srv.close(() => r()); srv.closeAllConnections(); });

describe('jwt-jwks against a loopback JWKS server', () => {
  let rs: SigningKey;
  let es: SigningKey;
  let srv: Awaited<ReturnType<typeof jwksServer>>;
  const claims = (over: Record<string, unknown> = {}) => ({ iss: ISSUER, aud: AUDIENCE, sub: 'svc-b', iat: NOW_S, exp: NOW_S + 600, ...over });
  beforeAll(async () => {
    rs = await signingKey('rs', 'RS256');
    es = await signingKey('es', 'ES256');
    srv = await jwksServer(keySetOf(rs, es));
  });
  afterAll(() => (srv ? stop(srv.server) : undefined));

  it('allows RS256 and ES256 tokens of the published keys, and refuses HS256 with the RSA key as secret, ES512, PS256 and alg none', async () => {
    const a = tokenAuthz({ mode: 'jwt-jwks', jwksUrl: srv.url });
    expect(allowed(await a(eventToken(bearer(await jwt(rs.privateKey, { alg: 'RS256', kid: 'rs' }, claims())))))).toBe(true);
    expect(allowed(await a(withAuthorization(eventV1(undefined), bearer(await jwt(es.privateKey, { alg: 'ES256', kid: 'es' }, claims())))))).toBe(true);
    const confused = await jwt(new TextEncoder().encode(JSON.stringify(rs.jwk)), { alg: 'HS256', kid: 'rs' }, claims());
    const es512 = await signingKey('es', 'ES512');
    const ps = await signingKey('rs', 'PS256');
    for (const t of [confused, await jwt(es512.privateKey, { alg: 'ES512', kid: 'es' }, claims()), await jwt(ps.privateKey, { alg: 'PS256', kid: 'rs' }, claims()), unsecured(claims(), { kid: 'rs' })]) {
      expect(reason(await a(eventToken(bearer(t))))).toBe('token_algorithm_not_allowed');
    }
    const narrowed = tokenAuthz({ mode: 'jwt-jwks', jwksUrl: srv.url, settings: { algorithms: ['ES256'] } });
    expect(reason(await narrowed(eventToken(bearer(await jwt(rs.privateKey, { alg: 'RS256', kid: 'rs' }, claims())))))).toBe('token_algorithm_not_allowed');
  });

  it('an unknown kid costs exactly one re-fetch per cooldown; a key published meanwhile is then accepted', async () => {
    const srv = await jwksServer(keySetOf(rs, es));
    const a = tokenAuthz({ mode: 'jwt-jwks', jwksUrl: srv.url });
    const before = 0;
    expect(allowed(await a(eventToken(bearer(await jwt(rs.privateKey, { alg: 'RS256', kid: 'rs' }, claims())))))).toBe(true);
    expect(srv.gets - before).toBe(1);
    const fresh = await signingKey('new', 'RS256');
    const t = await jwt(fresh.privateKey, { alg: 'RS256', kid: 'new' }, claims());
    a.clock.advance(TOKEN_DEFAULTS.keySetCooldownMs);
    expect(reason(await a(eventToken(bearer(t))))).toBe('token_unknown_kid');
    expect(srv.gets - before).toBe(2);
    expect(reason(await a(eventToken(bearer(t))))).toBe('token_unknown_kid');
    expect(srv.gets - before).toBe(2);
    srv.keys = keySetOf(rs, es, fresh);
    a.clock.advance(TOKEN_DEFAULTS.keySetCooldownMs);
    expect(allowed(await a(eventToken(bearer(t))))).toBe(true);
    expect(srv.gets - before).toBe(3);
    await stop(srv.server);
  });

  it('denies the tokens of a key removed from the set once the cached set has expired', async () => {
    const gone = await signingKey('gone', 'ES256');
    srv.keys = keySetOf(rs, es, gone);
    const a = tokenAuthz({ mode: 'jwt-jwks', jwksUrl: srv.url, settings: { tokenCacheMs: 0 } });
    expect(allowed(await a(eventToken(bearer(await jwt(gone.privateKey, { alg: 'ES256', kid: 'gone' }, claims())))))).toBe(true);
    srv.keys = keySetOf(rs, es);
    a.clock.advance(TOKEN_DEFAULTS.keySetCacheMs);
    expect(reason(await a(eventToken(bearer(await jwt(gone.privateKey, { alg: 'ES256', kid: 'gone' }, claims({ jti: 'another' }))))))).toBe('token_unknown_kid');
  });

  it('with the server down, uses the cached keys until their cache ends, then denies with key_set_error', async () => {
    const own = await jwksServer(keySetOf(rs));
    const a = tokenAuthz({ mode: 'jwt-jwks', jwksUrl: own.url, settings: { tokenCacheMs: 0, keySetCacheMs: 60_000 } });
    const t = (n: number) => jwt(rs.privateKey, { alg: 'RS256', kid: 'rs' }, claims({ jti: `t${n}`, exp: NOW_S + 3600 }));
    expect(allowed(await a(eventToken(bearer(await t(1)))))).toBe(true);
    await stop(own.server);
    a.clock.advance(59_000);
    expect(allowed(await a(eventToken(bearer(await t(2)))))).toBe(true);
    a.clock.advance(1_000);
    expect(reason(await a(eventToken(bearer(await t(3)))))).toBe('key_set_error');
    expect(a.last()).toMatchObject({ level: 'error' });
  });

  it('refuses a JWKS URL that is not https (except loopback) as config_error', async () => {
    const a = tokenAuthz({ mode: 'jwt-jwks', jwksUrl: 'http://keys.example.test/jwks.json' });
    expect(reason(await a(eventToken(bearer(await jwt(rs.privateKey, { alg: 'RS256', kid: 'rs' }, claims())))))).toBe('config_error');
  });
});

describe('spiffe-jwt-svid with SPIRE-shaped key sets', () => {
  const TD = 'example.org';
  let ec: SigningKey;
  let ps: SigningKey;
  let x509: SigningKey;
  const svid = (over: Record<string, unknown> = {}) => ({ sub: `spiffe://${TD}/ns/prod/sa/orders`, aud: [AUDIENCE], iat: NOW_S, exp: NOW_S + 300, ...over });
  beforeAll(async () => {
    ec = await signingKey('spire-ec', 'ES256', { use: null });
    ps = await signingKey('spire-ps', 'PS256', { use: null });
    x509 = await signingKey('spire-x509', 'ES256', { use: null });
  });
  const oidc = () => ({ keys: [ec.jwk, ps.jwk] });
  // a SPIFFE bundle: JWT keys `use: jwt-svid`, X.509 authorities `use: x509-svid`
  const bundle = () => ({ spiffe_sequence: 1, spiffe_refresh_hint: 300, keys: [{ ...ec.jwk, use: 'jwt-svid' }, { ...ps.jwk, use: 'jwt-svid' }, { ...x509.jwk, use: 'x509-svid' }] });

  it.each([
    ['an OIDC discovery key set (no use)', oidc],
    ['a SPIFFE bundle (use jwt-svid)', bundle],
  ])('allows ES256 and PS256 JWT-SVIDs from %s', async (_what, set) => {
    const a = tokenAuthz({ mode: 'spiffe-jwt-svid', keySet: async () => set(), settings: { issuer: undefined, trustDomain: TD } });
    const r = await a(withAuthorization(eventV2(undefined), bearer(await jwt(ec.privateKey, { alg: 'ES256', kid: 'spire-ec', typ: 'JWT' }, svid()))));
    expect(allowed(r)).toBe(true);
    expect(r.context).toMatchObject({ sub: `spiffe://${TD}/ns/prod/sa/orders`, mode: 'spiffe-jwt-svid' });
    expect(allowed(await a(eventToken(bearer(await jwt(ps.privateKey, { alg: 'PS256', kid: 'spire-ps' }, svid())))))).toBe(true);
  });

  it('denies a subject outside the trust domain or not a SPIFFE ID, a missing or other aud, an X.509-only key, HS256 and a token without kid', async () => {
    const a = tokenAuthz({ mode: 'spiffe-jwt-svid', keySet: async () => bundle(), settings: { issuer: undefined, trustDomain: TD } });
    const es = (claims: Record<string, unknown>, kid: string | null = 'spire-ec', key = ec) => jwt(key.privateKey, { alg: 'ES256', ...(kid ? { kid } : {}) }, claims);
    const cases: [Promise<string> | string, string][] = [
      [es(svid({ sub: 'spiffe://other.org/ns/prod' })), 'token_invalid_subject'],
      [es(svid({ sub: `spiffe://${TD}/ns/../x` })), 'token_invalid_subject'],
      [es(svid({ sub: `spiffe://${TD.toUpperCase()}/x` })), 'token_invalid_subject'],
      [es(svid({ sub: 'https://example.org/x' })), 'token_invalid_subject'],
      [es(svid({ sub: `spiffe://${TD}//x` })), 'token_invalid_subject'],
      [es(svid({ aud: undefined })), 'token_wrong_audience'],
      [es(svid({ aud: ['someone-else'] })), 'token_wrong_audience'],
      [es(svid(), 'spire-x509', x509), 'token_unknown_kid'],
      [es(svid(), null), 'malformed_token'],
      [jwt(new TextEncoder().encode('s'.repeat(40)), { alg: 'HS256', kid: 'spire-ec' }, svid()), 'token_algorithm_not_allowed'],
    ];
    for (const [t, why] of cases) expect(reason(await a(eventToken(bearer(await t)))), why).toBe(why);
  });

  it('needs a trust domain and an audience: without them every request is config_error', async () => {
    const a = tokenAuthz({ mode: 'spiffe-jwt-svid', keySet: async () => oidc(), settings: { issuer: undefined } });
    expect(reason(await a(eventToken(bearer(await jwt(ec.privateKey, { alg: 'ES256', kid: 'spire-ec' }, svid())))))).toBe('config_error');
  });
});
