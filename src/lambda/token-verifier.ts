/**
 * The token verifiers of the authorizer's bearer modes, on jose (panva) for every JOSE step: signature,
 * algorithm allowlist, `typ`, `iss`, `aud`, `exp`/`nbf`. Loaded by `import()` only in a mode that needs it, so
 * the `mtls` mode never evaluates it. Key sets are cached on the monotonic clock with one re-read on an unknown
 * `kid` per cooldown; verified tokens are cached until their `exp` at the latest. Never throws.
 */
import { createLocalJWKSet, errors, jwtVerify, type JWTPayload, type JWTVerifyOptions, type JWSHeaderParameters, type FlattenedJWSInput, type CryptoKey, type JSONWebKeySet } from 'jose';
import type { Clock } from '../ports.js';
import { parseSpiffeId } from '../domain/spiffe.js';
import { ACCESS_TOKEN_TYPE } from '../domain/token-claims.js';
import { TtlLru } from './cache.js';
import { MAX_TOKEN_LENGTH, MODE_ALGORITHMS, type AuthorizerMode, type TokenClaims, type TokenDenyReason, type TokenVerdict, type TokenVerifier } from './token.js';

/** What a token mode checks; see src/lambda/README.md for the environment variables behind each field. */
export interface TokenSettings {
  mode: Exclude<AuthorizerMode, 'mtls'>;
  /** exact `iss` (required in mtls+token, jwt-hs256 and jwt-jwks; checked in spiffe-jwt-svid when set) */
  issuer?: string;
  /** an `aud` the token must name (required in every token mode) */
  audience?: string;
  /** narrows the mode's allowlist (MODE_ALGORITHMS); never widens it */
  algorithms?: readonly string[];
  /** spiffe-jwt-svid: the trust domain `sub` must be in */
  trustDomain?: string;
  /** how long a key set read is used before it is read again */
  keySetCacheMs: number;
  /** the least time between two reads of the key set (re-read on an unknown kid, retry after a failure) */
  keySetCooldownMs: number;
  /** the longest a verified token is reused without verifying it again (never past its exp) */
  tokenCacheMs: number;
  /** allowed clock difference for exp/nbf/iat, in seconds */
  clockToleranceS: number;
}

export interface HmacSecretPair {
  current: Uint8Array;
  previous?: Uint8Array;
}

export interface TokenVerifierDeps {
  /** the key set (RFC 7517 JWK Set document) of mtls+token, jwt-jwks and spiffe-jwt-svid */
  keySet?: () => Promise<unknown>;
  /** the HMAC secrets of jwt-hs256 */
  secrets?: () => Promise<HmacSecretPair>;
  clock: Clock;
  monotonic: () => number;
}

/** RFC 7518 §3.2: an HMAC key at least as long as the hash output. */
export const MIN_HMAC_SECRET_BYTES = 32;

class ConfigFailure extends Error {}

/**
 * A value read through `load`, reused for `cacheMs`; after that (or on `refresh`) read again, at most once per
 * `cooldownMs`. A failed read is never cached: until the cooldown ends, asking again fails with the same error.
 */
export class CachedSource<T> {
  private value?: { v: T; until: number };
  private lastAttempt = -Infinity;
  private lastError?: unknown;
  private inflight?: Promise<T>;

  constructor(
    private readonly load: () => Promise<T>,
    private readonly cacheMs: number,
    private readonly cooldownMs: number,
    private readonly monotonic: () => number,
  ) {}

  async get(): Promise<T> {
    const now = this.monotonic();
    if (this.value && now < this.value.until) return this.value.v;
    if (this.lastError !== undefined && now - this.lastAttempt < this.cooldownMs) throw this.lastError;
    return this.reload();
  }

  /** Reads again unless a read happened within the cooldown; undefined when it did not read. */
  async refresh(): Promise<T | undefined> {
    if (this.inflight) return this.inflight;
    if (this.monotonic() - this.lastAttempt < this.cooldownMs) return undefined;
    return this.reload();
  }

  private reload(): Promise<T> {
    this.inflight ??= (async () => {
      this.lastAttempt = this.monotonic();
      try {
        const v = await this.load();
        this.value = { v, until: this.monotonic() + this.cacheMs };
        this.lastError = undefined;
        return v;
      } catch (e) {
        // the cached value ends with its cache time, not with a failed read: a read after that denies
        if (this.value && this.monotonic() >= this.value.until) this.value = undefined;
        this.lastError = e;
        throw e;
      } finally {
        this.inflight = undefined;
      }
    })();
    return this.inflight;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/**
 * The JWK Set as jose's key selection needs it. In spiffe-jwt-svid a SPIFFE bundle marks its JWT keys
 * `use: jwt-svid` (and its X.509 ones `x509-svid`); jose only picks keys whose `use` is absent or `sig`, so the
 * JWT keys are kept with `use` removed and every other use is dropped.
 */
function keySetFor(mode: TokenSettings['mode'], doc: unknown): JSONWebKeySet {
  if (!isObject(doc) || !Array.isArray(doc.keys)) throw new KeySetError('the key set is not a JWK Set ({"keys": [...]})');
  const keys = doc.keys.filter(isObject).flatMap((k) => {
    // a private or symmetric member in a published key set is refused outright
    if ('d' in k || k.kty === 'oct') return [];
    if (mode === 'spiffe-jwt-svid' && k.use === 'jwt-svid') {
      const { use: _use, ...rest } = k;
      return [rest];
    }
    return k.use === undefined || k.use === 'sig' ? [k] : [];
  });
  return { keys } as JSONWebKeySet;
}

class KeySetError extends Error {
  override name = 'KeySetError';
}

/** jose's errors as the authorizer's deny reasons. */
function reasonOf(e: unknown): TokenDenyReason {
  if (e instanceof KeySetError) return 'key_set_error';
  if (e instanceof errors.JWTExpired) return 'token_expired';
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf' || e.claim === 'iat') return 'token_not_yet_valid';
    if (e.claim === 'iss') return 'token_wrong_issuer';
    if (e.claim === 'aud') return 'token_wrong_audience';
    if (e.claim === 'typ') return 'token_wrong_type';
    return 'token_invalid_claims';
  }
  if (e instanceof errors.JOSEAlgNotAllowed || e instanceof errors.JOSENotSupported) return 'token_algorithm_not_allowed';
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) return 'token_unknown_kid';
  if (e instanceof errors.JWSSignatureVerificationFailed) return 'token_bad_signature';
  if (e instanceof errors.JWKSInvalid || e instanceof errors.JWKInvalid) return 'key_set_error';
  if (e instanceof errors.JWSInvalid || e instanceof errors.JWTInvalid) return 'malformed_token';
  return 'malformed_token';
}

function describe(e: unknown): string {
  const name = e instanceof Error ? e.name : typeof e;
  const message = e instanceof Error ? e.message : String(e);
  return `${name}: ${(message.split('\n')[0] ?? '').slice(0, 200)}`;
}

/** Settings problems found before any token is seen. @returns the message, or undefined when they are usable */
export function tokenSettingsProblem(s: TokenSettings): string | undefined {
  const allowed = MODE_ALGORITHMS[s.mode];
  if (!allowed) return `unknown authorizer mode ${JSON.stringify(s.mode)}`;
  if (s.algorithms && (!s.algorithms.length || s.algorithms.some((a) => !allowed.includes(a)))) return `algorithms for ${s.mode} must be among ${allowed.join(', ')}, got ${s.algorithms.join(', ') || 'none'}`;
  if (!s.audience) return `mode ${s.mode} needs an audience (${s.mode === 'mtls+token' ? 'CA_TOKEN_AUDIENCE' : 'CA_JWT_AUDIENCE'})`;
  if (s.mode !== 'spiffe-jwt-svid' && !s.issuer) return `mode ${s.mode} needs an issuer (${s.mode === 'mtls+token' ? 'CA_TOKEN_ISSUER' : 'CA_JWT_ISSUER'})`;
  if (s.mode === 'spiffe-jwt-svid' && !s.trustDomain) return 'mode spiffe-jwt-svid needs a trust domain (CA_SPIFFE_TRUST_DOMAIN)';
  for (const [k, v] of [['keySetCacheMs', s.keySetCacheMs], ['keySetCooldownMs', s.keySetCooldownMs], ['tokenCacheMs', s.tokenCacheMs], ['clockToleranceS', s.clockToleranceS]] as const) {
    if (!Number.isFinite(v) || v < 0) return `${k} must be a number >= 0, got ${v}`;
  }
  return undefined;
}

/** The verifier of one mode. A settings problem does not throw: every verification then answers config_error. */
export function createTokenVerifier(s: TokenSettings, deps: TokenVerifierDeps): TokenVerifier {
  const problem = tokenSettingsProblem(s);
  if (problem) return { verify: async () => ({ ok: false, reason: 'config_error', error: problem }) };
  const algorithms = [...(s.algorithms ?? MODE_ALGORITHMS[s.mode])];
  const verified = new TtlLru<string, TokenClaims>(10_000);
  const options = (): JWTVerifyOptions => ({
    algorithms,
    audience: s.audience,
    ...(s.issuer ? { issuer: s.issuer } : {}),
    ...(s.mode === 'mtls+token' ? { typ: ACCESS_TOKEN_TYPE, requiredClaims: ['exp', 'iat', 'jti', 'sub', 'client_id', 'cnf'] } : { requiredClaims: ['exp'] }),
    clockTolerance: s.clockToleranceS,
    currentDate: deps.clock.now(),
  });

  /** the key of a JWS of the key set modes (jwt-hs256 verifies with its secrets directly) */
  let key: ((header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey | Uint8Array>) | undefined;
  let hmac: CachedSource<HmacSecretPair> | undefined;
  if (s.mode === 'jwt-hs256') {
    const load = deps.secrets;
    hmac = new CachedSource(
      async () => {
        if (!load) throw new ConfigFailure('no secret source configured (CA_JWT_SECRET_ARN or CA_JWT_SECRET_PARAMETER)');
        const pair = await load();
        // RFC 7518 §3.2; a short secret is a setup mistake, not a transient failure
        if (!(pair.current instanceof Uint8Array) || pair.current.length < MIN_HMAC_SECRET_BYTES) throw new ConfigFailure(`the HS256 secret is shorter than ${MIN_HMAC_SECRET_BYTES} bytes`);
        if (pair.previous !== undefined && pair.previous.length < MIN_HMAC_SECRET_BYTES) return { current: pair.current };
        return pair;
      },
      Infinity,
      s.keySetCooldownMs,
      deps.monotonic,
    );
    // read at cold start: the first request finds it ready
    hmac.get().catch(() => {});
  } else {
    const load = deps.keySet;
    const source = new CachedSource(
      async () => {
        if (!load) throw new KeySetError('no key set source configured');
        let doc: unknown;
        try {
          doc = await load();
        } catch (e) {
          throw new KeySetError(`failed to read the key set: ${describe(e)}`);
        }
        const jwks = keySetFor(s.mode, doc);
        const set = createLocalJWKSet(jwks);
        // Import each key now (jose caches the imported key per JWK): at cold start this runs while the first
        // request still waits for its registry reads, instead of after them.
        for (const k of jwks.keys) if (typeof k.kid === 'string' && typeof k.alg === 'string' && algorithms.includes(k.alg)) await set({ alg: k.alg, kid: k.kid }).catch(() => {});
        return set;
      },
      s.keySetCacheMs,
      s.keySetCooldownMs,
      deps.monotonic,
    );
    source.get().catch(() => {});
    key = async (header, token) => {
      if ((s.mode === 'mtls+token' || s.mode === 'spiffe-jwt-svid') && typeof header.kid !== 'string') throw new errors.JWSInvalid('the token header has no kid');
      const set = await source.get();
      try {
        return await set(header, token);
      } catch (e) {
        if (!(e instanceof errors.JWKSNoMatchingKey)) throw e;
        // a key published after our last read: read once more, at most once per cooldown
        const fresh = await source.refresh().catch(() => undefined);
        if (!fresh) throw e;
        return fresh(header, token);
      }
    };
  }

  async function verifyOnce(token: string): Promise<TokenClaims> {
    if (s.mode === 'jwt-hs256') {
      const withPair = async (pair: HmacSecretPair) => {
        try {
          return (await jwtVerify(token, pair.current, options())).payload as TokenClaims;
        } catch (e) {
          // a token signed with the previous secret during a rotation (AWSPREVIOUS)
          if (!(e instanceof errors.JWSSignatureVerificationFailed) || !pair.previous) throw e;
          return (await jwtVerify(token, pair.previous, options())).payload as TokenClaims;
        }
      };
      const pair = await hmac!.get();
      try {
        return await withPair(pair);
      } catch (e) {
        if (!(e instanceof errors.JWSSignatureVerificationFailed)) throw e;
        // a rotation since our read: the new AWSCURRENT signs tokens we cannot check yet. Read again, at most
        // once per cooldown, as a key set is on an unknown kid.
        const fresh = await hmac!.refresh().catch(() => undefined);
        if (!fresh || fresh === pair) throw e;
        return withPair(fresh);
      }
    }
    return (await jwtVerify(token, key!, options())).payload as TokenClaims;
  }

  function claimsProblem(c: JWTPayload): TokenDenyReason | undefined {
    const now = deps.clock.now().getTime() / 1000;
    if (typeof c.exp !== 'number') return 'token_invalid_claims';
    if (typeof c.iat === 'number' && c.iat > now + s.clockToleranceS) return 'token_not_yet_valid';
    if (s.mode === 'mtls+token') {
      const cnf = c.cnf as Record<string, unknown> | undefined;
      if (typeof c.client_id !== 'string' || typeof c.sub !== 'string' || typeof c.jti !== 'string' || !isObject(cnf) || typeof cnf['x5t#S256'] !== 'string') return 'token_invalid_claims';
      if (c.scope !== undefined && typeof c.scope !== 'string') return 'token_invalid_claims';
    }
    if (s.mode === 'spiffe-jwt-svid') {
      const id = parseSpiffeId(c.sub);
      if (!id || id.trustDomain !== s.trustDomain) return 'token_invalid_subject';
    }
    return undefined;
  }

  return {
    async verify(token: string): Promise<TokenVerdict> {
      try {
        if (typeof token !== 'string' || token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: 'malformed_token' };
        const nowMs = deps.monotonic();
        const hit = verified.get(token, nowMs);
        // exp is checked again on a hit: the wall clock moves on while the entry lives
        if (hit && hit.value.exp > deps.clock.now().getTime() / 1000 - s.clockToleranceS) return { ok: true, claims: hit.value };
        const claims = await verifyOnce(token);
        const problem = claimsProblem(claims);
        if (problem) return { ok: false, reason: problem };
        const left = claims.exp * 1000 - deps.clock.now().getTime();
        const keep = Math.min(left, s.tokenCacheMs);
        if (keep > 0) verified.set(token, claims, nowMs + keep);
        return { ok: true, claims };
      } catch (e) {
        if (e instanceof ConfigFailure) return { ok: false, reason: 'config_error', error: e.message };
        return { ok: false, reason: reasonOf(e), error: describe(e) };
      }
    },
  };
}

/**
 * A key set served over HTTPS (a JWKS URI, a SPIRE OIDC discovery provider's `keys`, a SPIFFE bundle endpoint):
 * one GET per read, bounded in time and size. Plain http only to a loopback address.
 */
export function remoteKeySet(url: string, timeoutMs: number): () => Promise<unknown> {
  const u = new URL(url);
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && loopback)) throw new Error(`CA_JWKS_URL must be an https URL, got ${url}`);
  return async () => {
    const res = await fetch(u, { headers: { accept: 'application/json, application/jwk-set+json' }, signal: AbortSignal.timeout(timeoutMs), redirect: 'error' });
    if (!res.ok) throw new Error(`GET ${u.origin}${u.pathname}: HTTP ${res.status}`);
    const text = await res.text();
    if (text.length > 512 * 1024) throw new Error(`GET ${u.origin}${u.pathname}: key set larger than 512 KiB`);
    return JSON.parse(text) as unknown;
  };
}
