/**
 * What every bearer-token mode of the authorizer shares, without the JOSE library (that lives in
 * ./token-verifier.ts, loaded only by a mode that verifies tokens): the modes, the token deny reasons, the
 * bearer token of an event (RFC 6750 §2.1), the route of an event and the scopes it requires.
 * Pure: no I/O, never throws on any input.
 */

/**
 * `mtls`: the client certificate only (the default). `mtls+token`: the certificate, plus an access token of our
 * issuer bound to it (RFC 8705 §3). The others check a bearer token only: `jwt-hs256` (shared secret),
 * `jwt-jwks` (a remote key set), `spiffe-jwt-svid` (a SPIFFE JWT-SVID).
 */
export type AuthorizerMode = 'mtls' | 'mtls+token' | 'jwt-hs256' | 'jwt-jwks' | 'spiffe-jwt-svid';
export const AUTHORIZER_MODES: readonly AuthorizerMode[] = ['mtls', 'mtls+token', 'jwt-hs256', 'jwt-jwks', 'spiffe-jwt-svid'];

/** Modes that need no client certificate: the bearer token decides alone. */
export const isBearerOnly = (m: AuthorizerMode): boolean => m === 'jwt-hs256' || m === 'jwt-jwks' || m === 'spiffe-jwt-svid';

/** The algorithm allowlist of each token mode (RFC 8725 §3.1: never the token's own choice, never `none`). */
export const MODE_ALGORITHMS: Record<Exclude<AuthorizerMode, 'mtls'>, readonly string[]> = {
  'mtls+token': ['ES256'],
  'jwt-hs256': ['HS256'],
  'jwt-jwks': ['RS256', 'RS384', 'RS512', 'ES256', 'ES384'],
  // JWT-SVID §3: RS, ES and PS at 256, 384 and 512
  'spiffe-jwt-svid': ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512'],
};

export type TokenDenyReason =
  | 'no_token'
  | 'malformed_token'
  | 'token_expired'
  | 'token_not_yet_valid'
  | 'token_wrong_issuer'
  | 'token_wrong_audience'
  | 'token_wrong_type'
  | 'token_algorithm_not_allowed'
  | 'token_unknown_kid'
  | 'token_bad_signature'
  | 'token_invalid_claims'
  | 'token_invalid_subject'
  | 'token_cert_mismatch'
  | 'token_client_mismatch'
  | 'insufficient_scope'
  | 'key_set_error';

export const TOKEN_DENY_REASONS: readonly TokenDenyReason[] = [
  'no_token',
  'malformed_token',
  'token_expired',
  'token_not_yet_valid',
  'token_wrong_issuer',
  'token_wrong_audience',
  'token_wrong_type',
  'token_algorithm_not_allowed',
  'token_unknown_kid',
  'token_bad_signature',
  'token_invalid_claims',
  'token_invalid_subject',
  'token_cert_mismatch',
  'token_client_mismatch',
  'insufficient_scope',
  'key_set_error',
];

/** The verified claims of a token the mode accepts. */
export type TokenClaims = Record<string, unknown> & { exp: number };

export type TokenVerdict = { ok: true; claims: TokenClaims } | { ok: false; reason: TokenDenyReason | 'config_error'; error?: string };

/** A mode's verifier: signature, header and claims. Never throws. */
export interface TokenVerifier {
  verify(token: string): Promise<TokenVerdict>;
}

/** Route key → scopes every token for that route must carry; see src/lambda/README.md "Route scopes". */
export type RouteScopes = Record<string, readonly string[]>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
/** A longer Authorization value is refused unparsed (a JWT of ours is well under 2 KB). */
export const MAX_TOKEN_LENGTH = 8_192;
// RFC 6750 §2.1: credentials = "Bearer" 1*SP b64token
const BEARER = /^bearer +([A-Za-z0-9\-._~+/]+=*)$/i;

/** The value of a header whatever its case; several values (a list or a comma-joined one) are `multiple`. */
function header(event: Record<string, unknown>, name: string): { value?: string; multiple?: boolean } {
  // plain loops: this runs on every warm decision, and allocates nothing on the way
  const multi = event.multiValueHeaders;
  if (isObject(multi)) {
    let values = 0;
    for (const k in multi) {
      if (!Object.hasOwn(multi, k) || k.toLowerCase() !== name) continue;
      const v = multi[k];
      values += Array.isArray(v) ? v.length : 1;
    }
    if (values > 1) return { multiple: true };
  }
  const headers = event.headers;
  if (!isObject(headers)) return {};
  let hits = 0;
  let v: unknown;
  for (const k in headers) {
    if (!Object.hasOwn(headers, k) || k.toLowerCase() !== name) continue;
    hits++;
    v = headers[k];
  }
  if (hits > 1) return { multiple: true };
  return typeof v === 'string' ? { value: v } : v === undefined || v === null ? {} : { multiple: true };
}

/**
 * The bearer token of an event: `authorizationToken` of a REST TOKEN authorizer event (the identity source
 * header's value), the `Authorization` header of a REQUEST event (HTTP API 1.0/2.0, REST). Exactly one
 * `Bearer <token>` (RFC 6750 §2.1), at most MAX_TOKEN_LENGTH characters.
 */
export function bearerToken(event: unknown): { token?: string; problem?: 'no_token' | 'malformed_token' } {
  if (!isObject(event)) return { problem: 'no_token' };
  let raw: string | undefined;
  if (event.version === undefined && event.type === 'TOKEN') {
    const t = event.authorizationToken;
    if (t === undefined || t === null || t === '') return { problem: 'no_token' };
    if (typeof t !== 'string') return { problem: 'malformed_token' };
    raw = t;
  } else {
    const h = header(event, 'authorization');
    if (h.multiple) return { problem: 'malformed_token' };
    if (h.value === undefined || h.value === '') return { problem: 'no_token' };
    raw = h.value;
  }
  if (raw.length > MAX_TOKEN_LENGTH + 16) return { problem: 'malformed_token' };
  const m = BEARER.exec(raw);
  if (!m) return { problem: 'malformed_token' };
  return { token: m[1]! };
}

/**
 * The route keys an event matches, most specific first: `GET /orders/{id}`, `GET /orders/42`, then `ANY` of each
 * path. From the event's method and path (REQUEST events; payload 2.0 also its routeKey), else from the ARN (TOKEN).
 */
export function routeKeys(event: unknown): string[] {
  if (!isObject(event)) return [];
  const keys: string[] = [];
  const add = (method: unknown, path: unknown) => {
    if (typeof method === 'string' && typeof path === 'string' && method && path.startsWith('/')) keys.push(`${method.toUpperCase()} ${path}`);
  };
  const rc = isObject(event.requestContext) ? event.requestContext : {};
  if (event.version === '2.0') {
    if (typeof event.routeKey === 'string' && event.routeKey !== '$default') keys.push(event.routeKey);
    add(isObject(rc.http) ? rc.http.method : undefined, event.rawPath);
  } else if (event.type === 'REQUEST') {
    add(event.httpMethod, event.resource);
    add(event.httpMethod, event.path);
  }
  // every shape (and the only source of a TOKEN event): arn:…:execute-api:<region>:<account>:<api>/<stage>/<verb>/<path…>
  if (!keys.length) {
    // a TOKEN event carries only the ARN: arn:…:execute-api:<region>:<account>:<api>/<stage>/<verb>/<path…>
    const arn = typeof event.methodArn === 'string' ? event.methodArn : typeof event.routeArn === 'string' ? event.routeArn : undefined;
    const parts = arn?.split('/');
    if (parts && parts.length >= 3 && parts[2] !== '*') add(parts[2], '/' + parts.slice(3).join('/'));
  }
  for (const k of [...keys]) {
    const path = k.split(' ')[1];
    if (path) keys.push(`ANY ${path}`);
  }
  return [...new Set(keys)];
}

/**
 * The scopes the event's route requires: the entries of every matching route key; when none matches, the
 * `*` entry (none without it).
 */
export function requiredScopes(scopes: RouteScopes | undefined, event: unknown): readonly string[] {
  if (!scopes) return [];
  const hits = routeKeys(event).filter((k) => Object.hasOwn(scopes, k));
  if (!hits.length) return Object.hasOwn(scopes, '*') ? scopes['*']! : [];
  return [...new Set(hits.flatMap((k) => scopes[k]!))];
}

/** Whether the token's space-separated `scope` (RFC 6749 §3.3) holds every required scope. */
export function hasScopes(claims: Record<string, unknown>, required: readonly string[]): boolean {
  if (!required.length) return true;
  let granted = grantedScopes.get(claims);
  if (!granted) {
    granted = new Set(typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : []);
    grantedScopes.set(claims, granted);
  }
  return required.every((s) => granted.has(s));
}

/** A verified token's claims are reused from the verifier's cache: its scopes are split once. */
const grantedScopes = new WeakMap<object, Set<string>>();

/**
 * Parses CA_ROUTE_SCOPES: a JSON object of route key (`GET /orders`, `ANY /orders`, `*`) to a list of scopes.
 * @throws Error saying what is wrong
 */
export function parseRouteScopes(raw: string): RouteScopes {
  let doc: unknown;
  try {
    doc = JSON.parse(raw);
  } catch {
    throw new Error('CA_ROUTE_SCOPES is not JSON: give an object such as {"GET /orders": ["orders:read"]}');
  }
  if (!isObject(doc)) throw new Error('CA_ROUTE_SCOPES must be a JSON object of route key to a list of scopes');
  const out: Record<string, string[]> = {};
  for (const [k, v] of Object.entries(doc)) {
    if (k !== '*' && !/^[A-Z]+ \/\S*$/.test(k)) throw new Error(`CA_ROUTE_SCOPES key ${JSON.stringify(k)} is not a route key: use "METHOD /path" (method in capitals), "ANY /path" or "*"`);
    // RFC 6749 §3.3 scope-token: printable ASCII except space, '"' and '\'
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string' || !/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s))) {
      throw new Error(`CA_ROUTE_SCOPES[${JSON.stringify(k)}] must be a list of scope names (no spaces)`);
    }
    out[k] = v as string[];
  }
  return out;
}
