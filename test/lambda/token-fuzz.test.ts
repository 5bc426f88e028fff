/**
 * A seeded fuzz test of the token modes, as test/lambda/fuzz.test.ts is for mTLS: mutated tokens (bit flips, spliced
 * segments, forged headers and claims, other algorithms), random Authorization values and random events. The
 * authorizer never throws, always answers a well-formed response, and never allows a token that is not, byte for
 * byte once decoded, the genuine one. Reproduce a failure with TOKEN_FUZZ_SEED=<seed>.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createAuthorizer, type Authorizer } from '../../src/lambda/authorizer.js';
import type { AuthorizerResponse } from '../../src/lambda/event.js';
import { loadTokenVerifier } from '../../src/lambda/token-loader.js';
import { TOKEN_DEFAULTS } from '../../src/lambda/config.js';
import type { TokenSettings } from '../../src/lambda/token-verifier.js';
import type { CertificateRecord } from '../../src/ports.js';
import { at, makePki, type TestPki } from './pki.js';
import { SHAPES, clientCertOf, eventToken, withAuthorization } from './events.js';
import { AUDIENCE, ISSUER, accessToken, jwt, keySetOf, signingKey, type SigningKey } from './tokens.js';

function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const ITERATIONS = Number(process.env.TOKEN_FUZZ_ITERATIONS ?? 1500);
const SEED = Number(process.env.TOKEN_FUZZ_SEED ?? 20261201);
const NOW = at(60_000);
const NOW_S = Math.floor(NOW.getTime() / 1000);
const SECRET = new TextEncoder().encode('fuzz-secret-of-more-than-32-bytes!!');

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
/** The token's decoded bytes: two tokens that decode to the same header, payload and signature are the same token. */
const decoded = (t: string) => t.split('.').map((p) => Buffer.from(p, 'base64url').toString('hex')).join('.');

const ALGS = ['none', 'None', 'NONE', 'HS256', 'HS512', 'RS256', 'ES256', 'ES384', 'PS256', 'EdDSA', '', 'es256', 'ES256 ', 42, null] as const;

function randomJson(r: Rng, depth = 0): unknown {
  const kinds: (() => unknown)[] = [
    () => null,
    () => r.int(2) === 0,
    () => r.next() * 4e9 - 2e9,
    () => NOW_S + r.int(1000) - 500,
    () => 'x'.repeat(r.int(20)),
    () => ISSUER,
    () => AUDIENCE,
    () => [AUDIENCE, 'other'],
    () => 'alice',
    () => '__proto__',
    () => (depth < 2 ? Array.from({ length: r.int(3) }, () => randomJson(r, depth + 1)) : []),
    () => (depth < 2 ? Object.fromEntries(Array.from({ length: r.int(3) }, () => [r.pick(['x5t#S256', 'kid', 'alg', 'a', '__proto__']), randomJson(r, depth + 1)])) : {}),
  ];
  return r.pick(kinds)();
}

function mutate(r: Rng, token: string, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const [h, p, s] = token.split('.') as [string, string, string];
  const ops: (() => string)[] = [
    () => {
      const i = r.int(token.length);
      const c = token[i]!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      return token.slice(0, i) + alphabet[(alphabet.indexOf(c) + 1 + r.int(63)) % 64] + token.slice(i + 1);
    },
    () => token.slice(0, r.int(token.length)),
    () => `${h}.${p}.`,
    () => `${h}.${p}`,
    () => `${b64({ ...header, alg: r.pick(ALGS) })}.${p}.${s}`,
    () => `${b64({ ...header, [r.pick(['kid', 'typ', 'crit', 'jku', 'jwk', 'x5u', 'b64'])]: randomJson(r) })}.${p}.${s}`,
    () => `${h}.${b64({ ...claims, [r.pick(['iss', 'aud', 'exp', 'nbf', 'iat', 'sub', 'client_id', 'cnf', 'scope', 'jti'])]: randomJson(r) })}.${s}`,
    () => `${h}.${b64(randomJson(r))}.${s}`,
    () => `${b64(randomJson(r))}.${p}.${s}`,
    () => `${h}.${p}.${s}.${s}`,
    () => token + token,
    () => `${h}.${p}.${b64(Buffer.alloc(r.int(130)))}`,
    () => `${b64({ alg: 'none' })}.${p}.`,
  ];
  return r.pick(ops)();
}

const wellFormed = (res: AuthorizerResponse) =>
  'isAuthorized' in res
    ? typeof res.isAuthorized === 'boolean' && typeof res.context === 'object'
    : typeof res.principalId === 'string' && res.policyDocument.Statement.length === 1 && ['Allow', 'Deny'].includes(res.policyDocument.Statement[0]!.Effect);
const allowed = (res: AuthorizerResponse) => ('isAuthorized' in res ? res.isAuthorized : res.policyDocument.Statement[0]!.Effect === 'Allow');

let pki: TestPki;
let alice: CertificateRecord;
let bob: CertificateRecord;
let es: SigningKey;
let rs: SigningKey;

beforeAll(async () => {
  pki = await makePki({ name: 'ca-token-fuzz' });
  alice = (await pki.issue('alice')).record;
  bob = (await pki.issue('bob')).record;
  es = await signingKey('fz-es');
  rs = await signingKey('fz-rs', 'RS256');
}, 60_000);
afterAll(() => pki?.cleanup());

function build(mode: TokenSettings['mode']): Authorizer {
  const settings: TokenSettings = { mode, issuer: mode === 'spiffe-jwt-svid' ? undefined : ISSUER, audience: AUDIENCE, trustDomain: 'example.org', ...TOKEN_DEFAULTS };
  const clock = { now: () => NOW };
  const token = loadTokenVerifier(settings, { keySet: async () => keySetOf(es, rs), secrets: async () => ({ current: SECRET }), clock, monotonic: () => 0 });
  return createAuthorizer({ registry: pki.store.registry, clock, monotonic: () => 0, config: { cacheTtlMs: 60_000, mode }, log: () => {}, token });
}

describe('token fuzz (seeded)', () => {
  it.each(['mtls+token', 'jwt-hs256', 'jwt-jwks', 'spiffe-jwt-svid'] as const)(`%s: never throws, never allows a forged token (seed ${SEED})`, async (mode) => {
    const r = prng(SEED + mode.length);
    const run = build(mode);
    const header: Record<string, unknown> =
      mode === 'jwt-hs256' ? { alg: 'HS256', typ: 'JWT' } : mode === 'jwt-jwks' ? { alg: 'RS256', kid: 'fz-rs' } : { alg: 'ES256', typ: mode === 'mtls+token' ? 'at+jwt' : 'JWT', kid: 'fz-es' };
    const claims: Record<string, unknown> =
      mode === 'spiffe-jwt-svid'
        ? { sub: 'spiffe://example.org/ns/fuzz', aud: AUDIENCE, iat: NOW_S, exp: NOW_S + 300 }
        : { iss: ISSUER, aud: AUDIENCE, sub: 'alice', client_id: 'alice', iat: NOW_S, exp: NOW_S + 300, jti: 'fz', scope: 'a b' };
    const genuine =
      mode === 'mtls+token'
        ? await accessToken(es, { clientId: 'alice', certPem: alice.certificatePem, nowS: NOW_S, over: { jti: 'fz', scope: 'a b' } })
        : await jwt(mode === 'jwt-hs256' ? SECRET : mode === 'jwt-jwks' ? rs.privateKey : es.privateKey, header as { alg: string }, claims);
    const genuineClaims = JSON.parse(Buffer.from(genuine.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const aliceCert = clientCertOf(alice.certificatePem);
    const bobCert = clientCertOf(bob.certificatePem);
    let allows = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const token = r.int(10) === 0 ? genuine : mutate(r, genuine, header, genuineClaims);
      const value = r.pick([`Bearer ${token}`, `Bearer ${token}`, `Bearer ${token}`, token, `Basic ${token}`, `Bearer  ${token}`, `Bearer ${token} `, String(randomJson(r))]);
      const cert = r.int(8) === 0 ? bobCert : aliceCert;
      const shape = r.pick(['v2', 'v1', 'rest', 'token'] as const);
      const event: unknown = shape === 'token' ? eventToken(value) : withAuthorization(SHAPES[shape](cert), value);
      let res: AuthorizerResponse;
      try {
        res = await run(r.int(50) === 0 ? randomJson(r) : event);
      } catch (e) {
        throw new Error(`iteration ${i} threw (seed ${SEED}): ${(e as Error).message}`);
      }
      expect(wellFormed(res), `iteration ${i}`).toBe(true);
      if (allowed(res)) {
        allows++;
        const sent = /^Bearer +(\S+)$/i.exec(value)?.[1]; // RFC 6750 §2.1: 1*SP
        expect(sent && decoded(sent) === decoded(genuine), `iteration ${i} allowed a forged token ${value.slice(0, 120)}`).toBe(true);
        // the certificate binding holds whatever the token: bob's certificate never passes with alice's token
        if (mode === 'mtls+token') expect(shape !== 'token' && cert === aliceCert, `iteration ${i}`).toBe(true);
      }
    }
    // the genuine token went through often enough for the assertions above to mean something
    expect(allows).toBeGreaterThan(ITERATIONS / 40);
  });
});
