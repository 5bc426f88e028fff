/**
 * The token endpoint and the discovery documents, independent of how a request arrives (API Gateway event, the
 * local gateway): OAuth 2.0 client credentials (RFC 6749 §4.4) with the client authenticated by its TLS certificate
 * (RFC 8705 §2, `tls_client_auth`), answering an RFC 9068 JWT access token bound to that certificate (RFC 8705 §3.1).
 * Never throws: every failure is an RFC 6749 §5.2 error document. Imported by the token Lambda bundle: no
 * node:fs, no SDK, nothing of the CLI.
 */
import { X509Certificate, randomUUID } from 'node:crypto';
import type { CertificateRecord, Clock, PublicJwk, RegistryReader, TokenSigner } from '../ports.js';
import { acceptance } from './acceptance.js';
import { normalizeSerial } from './serial.js';
import { isScopeToken } from './scopes.js';
import { ACCESS_TOKEN_TYPE, certificateThumbprint, type AccessTokenClaims } from './token-claims.js';
import { JWKS_MAX_AGE_SECONDS, MAX_TOKEN_TTL_SECONDS } from './token-keys.js';

export const DEFAULT_TOKEN_TTL_SECONDS = 300;
/** A token request is a few hundred bytes; anything this large is refused before parsing. */
export const MAX_FORM_BYTES = 8 * 1024;
const MAX_PEM_LENGTH = 16 * 1024;
const REGISTRY_TIMEOUT_MS = 3_000;

export type OAuthError = 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unauthorized_client' | 'unsupported_grant_type' | 'invalid_scope' | 'server_error';

/** An HTTP request as the endpoint needs it: header names lower case, the body decoded to text. */
export interface HttpRequest {
  method: string;
  path: string;
  headers: Record<string, string | undefined>;
  body?: string;
  /** the client certificate API Gateway forwards (clientCertPem) */
  clientCertPem?: string;
  /** the custom domain the request came to; the issuer's default (`https://<domain>`) */
  domainName?: string;
}

export interface HttpResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

export interface TokenEndpointConfig {
  /** `iss` (CA_TOKEN_ISSUER); default `https://<domain name of the request>` */
  issuer?: string;
  /** `aud` of a client that has none recorded (CA_TOKEN_AUDIENCE) */
  defaultAudience?: string;
  /** token lifetime in seconds (CA_TOKEN_TTL_SECONDS), 1..3600, default 300 */
  ttlSeconds?: number;
}

export interface TokenEndpointDeps {
  registry: RegistryReader;
  /** the key that signs now (see signingEntry) */
  signer: () => Promise<TokenSigner>;
  /** the published key set */
  jwks: () => Promise<{ keys: PublicJwk[] }>;
  clock?: Clock;
  config?: TokenEndpointConfig;
  /** one structured line per request: outcome, client, reason; never a token */
  log?: (entry: object) => void;
}

/** Validates the endpoint's configuration. @throws Error naming the bad setting */
export function resolveTokenConfig(c: TokenEndpointConfig = {}): Required<Pick<TokenEndpointConfig, 'ttlSeconds'>> & TokenEndpointConfig {
  const ttl = c.ttlSeconds ?? DEFAULT_TOKEN_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > MAX_TOKEN_TTL_SECONDS) throw new Error(`CA_TOKEN_TTL_SECONDS must be a whole number from 1 to ${MAX_TOKEN_TTL_SECONDS}, got ${ttl}`);
  if (c.issuer !== undefined) checkIssuer(c.issuer);
  return { ...c, ttlSeconds: ttl };
}

/** RFC 8414 §2: the issuer is an https URL without query or fragment. @throws Error */
function checkIssuer(iss: string): string {
  let u: URL;
  try {
    u = new URL(iss);
  } catch {
    throw new Error(`CA_TOKEN_ISSUER must be an https URL, got ${JSON.stringify(iss)}`);
  }
  if (u.protocol !== 'https:' || u.search || u.hash || iss.includes('#') || iss.includes('?')) throw new Error(`CA_TOKEN_ISSUER must be an https URL without query or fragment, got ${JSON.stringify(iss)}`);
  return iss.replace(/\/+$/, '');
}

const STATUS: Record<OAuthError, number> = {
  invalid_request: 400,
  // RFC 6749 §5.2: 401 for a failed client authentication; here it is the certificate that failed
  invalid_client: 401,
  invalid_grant: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  invalid_scope: 400,
  server_error: 500,
};

// RFC 6749 §5.1: responses carrying tokens or credentials are not cached; errors neither
const NO_STORE = { 'cache-control': 'no-store', pragma: 'no-cache' };

function json(statusCode: number, body: object, headers: Record<string, string>): HttpResponse {
  return { statusCode, headers: { 'content-type': 'application/json;charset=UTF-8', ...headers }, body: JSON.stringify(body) };
}

/** An RFC 6749 §5.2 error document. error_description: printable ASCII without `"` or `\` (§5.2). */
export function oauthError(error: OAuthError, description: string, extra: Record<string, string> = {}): HttpResponse {
  const desc = description.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '?');
  return json(STATUS[error], { error, error_description: desc }, { ...NO_STORE, ...extra });
}

class Refusal {
  constructor(
    readonly error: OAuthError,
    readonly description: string,
    readonly reason: string,
  ) {}
}
const refuse = (error: OAuthError, description: string, reason: string = error) => new Refusal(error, description, reason);

/**
 * Parses an application/x-www-form-urlencoded body strictly (WHATWG form encoding): `+` is a space, every `%`
 * starts a valid escape, the result is valid UTF-8, no parameter twice (RFC 6749 §3.2), no empty name.
 */
export function parseForm(body: string): Map<string, string> | Refusal {
  const out = new Map<string, string>();
  if (body === '') return out;
  for (const part of body.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq < 0 ? part : part.slice(0, eq);
    const rawValue = eq < 0 ? '' : part.slice(eq + 1);
    let name: string;
    let value: string;
    try {
      name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      value = decodeURIComponent(rawValue.replace(/\+/g, ' '));
    } catch {
      return refuse('invalid_request', 'the form body is not valid application/x-www-form-urlencoded', 'malformed_form');
    }
    if (!name) return refuse('invalid_request', 'a form parameter has no name', 'malformed_form');
    if (out.has(name)) return refuse('invalid_request', `parameter ${name.slice(0, 40)} is given more than once`, 'duplicate_parameter');
    out.set(name, value);
  }
  return out;
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;

/** What client authentication found: the client's accepted record and the certificate's facts. */
interface Authenticated {
  record: CertificateRecord;
  x5t: string;
  certNotAfter: number;
}

async function withDeadline<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('registry read timed out')), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * RFC 8705 §2.1.1 (`tls_client_auth`, the subject here being our registry's record): the certificate must be the
 * very one the registry recorded (fingerprint), accepted by the domain's one rule (acceptance, as in the
 * authorizer), named after its client (CN), and issued by an intermediate the registry still trusts.
 */
/** What a certificate's DER says, parsed once per PEM: the same PEM always parses the same way. */
interface PresentedFacts {
  serial: string;
  x5t: string;
  fingerprint: string;
  notBefore: number;
  notAfter: number;
  commonNames: string[];
}

/** Parsing a certificate costs about 0.3 ms, half of a token request: the last 1,000 PEMs are remembered. */
const parsed = new Map<string, PresentedFacts | null>();
function presentedFacts(pem: string): PresentedFacts | undefined {
  const hit = parsed.get(pem);
  if (hit !== undefined) return hit ?? undefined;
  let facts: PresentedFacts | null = null;
  try {
    const x = new X509Certificate(pem);
    const x5t = certificateThumbprint(x.raw);
    facts = {
      serial: normalizeSerial(x.serialNumber),
      x5t,
      fingerprint: Buffer.from(x5t, 'base64url').toString('hex'),
      notBefore: Date.parse(x.validFrom),
      notAfter: Date.parse(x.validTo),
      commonNames: x.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3)),
    };
  } catch {
    facts = null;
  }
  if (parsed.size >= 1000) parsed.delete(parsed.keys().next().value!);
  parsed.set(pem, facts);
  return facts ?? undefined;
}

/**
 * RFC 8705 §2.1.1 (`tls_client_auth`, the subject here being our registry's record): the certificate must be the
 * very one the registry recorded (fingerprint), accepted by the domain's one rule (acceptance, as in the
 * authorizer), named after its client (CN), and issued by an intermediate the registry still trusts.
 */
async function authenticate(registry: RegistryReader, pem: string | undefined, now: Date): Promise<Authenticated | Refusal> {
  if (!pem) return refuse('invalid_client', 'no client certificate was presented', 'no_client_cert');
  if (pem.length > MAX_PEM_LENGTH || !pem.includes('-----BEGIN CERTIFICATE-----')) return refuse('invalid_client', 'the client certificate is malformed', 'malformed_certificate');
  const x = presentedFacts(pem);
  if (!x) return refuse('invalid_client', 'the client certificate is malformed', 'malformed_certificate');
  const certNotAfter = x.notAfter;
  if (!(now.getTime() >= x.notBefore && now.getTime() < x.notAfter)) return refuse('invalid_client', 'the client certificate is outside its validity period', 'certificate_not_valid_now');
  let record: CertificateRecord | undefined;
  let issuer: CertificateRecord | undefined;
  try {
    record = await withDeadline(registry.get(x.serial), REGISTRY_TIMEOUT_MS);
    if (record && isObject(record) && typeof record.issuerSerial === 'string') issuer = await withDeadline(registry.get(record.issuerSerial), REGISTRY_TIMEOUT_MS);
  } catch {
    return refuse('server_error', 'the certificate registry could not be read', 'registry_error');
  }
  const { x5t, fingerprint } = x;
  if (!record || record.kind !== 'client' || record.fingerprint !== fingerprint) return refuse('invalid_client', 'the client certificate is not one this CA issued', 'unknown_certificate');
  const verdict = acceptance(record, now);
  if (!verdict.accepted) return refuse('invalid_client', `the client certificate is not accepted (${verdict.reason})`, verdict.reason);
  const cns = x.commonNames;
  if (cns.length !== 1 || cns[0] !== record.clientId) return refuse('invalid_client', 'the client certificate does not name its client', 'client_id_mismatch');
  const issuerOk =
    !!issuer && issuer.kind === 'intermediate' && (issuer.status === 'active' || issuer.status === 'superseded') && now.getTime() < Date.parse(issuer.notAfter) && now.getTime() >= Date.parse(issuer.notBefore);
  if (!issuerOk) return refuse('invalid_client', 'the client certificate\'s issuer is no longer trusted', 'issuer_not_trusted');
  return { record, x5t, certNotAfter };
}

/** The granted scopes: the requested ones when all are recorded for the client, else all recorded (none requested). */
function grantScopes(requested: string | undefined, recorded: readonly string[]): string[] | Refusal {
  if (requested === undefined) return [...recorded];
  // RFC 6749 §3.3: scope = scope-token *( SP scope-token )
  const asked = requested.split(' ');
  if (asked.some((s) => !isScopeToken(s))) return refuse('invalid_scope', 'scope must be space-separated scope-tokens (RFC 6749 section 3.3)', 'malformed_scope');
  const missing = asked.filter((s) => !recorded.includes(s));
  if (missing.length) return refuse('invalid_scope', `scope not granted to this client: ${missing.slice(0, 5).join(' ').slice(0, 200)}`, 'scope_not_granted');
  return [...new Set(asked)];
}

function contentTypeIsForm(ct: string | undefined): boolean {
  if (!ct) return false;
  const [type, ...params] = ct.split(';').map((p) => p.trim().toLowerCase());
  if (type !== 'application/x-www-form-urlencoded') return false;
  // a charset, when given, must be UTF-8 (the only one the form encoding decodes here)
  return params.every((p) => !p.startsWith('charset=') || p.replace(/"/g, '') === 'charset=utf-8');
}

/** The endpoint: token requests, the JWKS and the metadata document. The returned function never throws. */
export function createTokenEndpoint(deps: TokenEndpointDeps): (req: HttpRequest) => Promise<HttpResponse> {
  const clock = deps.clock ?? { now: () => new Date() };
  const log = deps.log ?? ((e: object) => process.stdout.write(JSON.stringify(e) + '\n'));
  let cfg: ReturnType<typeof resolveTokenConfig> | undefined;
  let configError: string | undefined;
  try {
    cfg = resolveTokenConfig(deps.config);
  } catch (e) {
    configError = (e as Error).message;
  }

  const issuerOf = (req: HttpRequest): string | undefined => {
    if (cfg?.issuer) return checkIssuer(cfg.issuer);
    const d = req.domainName?.toLowerCase();
    return d && /^[a-z0-9.-]+(:\d{1,5})?$/.test(d) ? `https://${d}` : undefined;
  };

  async function token(req: HttpRequest, entry: Record<string, unknown>): Promise<HttpResponse> {
    if (req.method !== 'POST') return oauthError('invalid_request', 'the token endpoint takes POST', { allow: 'POST' });
    if (!contentTypeIsForm(req.headers['content-type'])) throw refuse('invalid_request', 'the request must be application/x-www-form-urlencoded', 'bad_content_type');
    const body = req.body ?? '';
    if (body.length > MAX_FORM_BYTES) throw refuse('invalid_request', 'the request body is too large', 'body_too_large');
    const form = parseForm(body);
    if (form instanceof Refusal) throw form;
    const grant = form.get('grant_type');
    if (grant === undefined || grant === '') throw refuse('invalid_request', 'grant_type is missing', 'no_grant_type');
    if (grant !== 'client_credentials') throw refuse('unsupported_grant_type', 'only grant_type=client_credentials is supported');
    if (configError || !cfg) throw refuse('server_error', 'the token endpoint is misconfigured', 'config_error');
    const iss = issuerOf(req);
    if (!iss) throw refuse('server_error', 'the token endpoint has no issuer (set CA_TOKEN_ISSUER)', 'config_error');
    const now = clock.now();
    const auth = await authenticate(deps.registry, req.clientCertPem, now);
    if (auth instanceof Refusal) throw auth;
    const { record } = auth;
    entry.clientId = record.clientId;
    entry.serial = record.serial;
    const clientId = form.get('client_id');
    if (clientId !== undefined && clientId !== record.clientId) throw refuse('invalid_client', 'client_id does not match the client certificate', 'client_id_mismatch');
    const scopes = grantScopes(form.get('scope'), record.scopes ?? []);
    if (scopes instanceof Refusal) throw scopes;
    const audiences = record.audiences?.length ? record.audiences : cfg.defaultAudience ? [cfg.defaultAudience] : [];
    if (!audiences.length) throw refuse('unauthorized_client', 'no audience is recorded for this client and the endpoint has no default (CA_TOKEN_AUDIENCE)', 'no_audience');
    const iat = Math.floor(now.getTime() / 1000);
    // never past the certificate's end, nor past the grace period of a superseded one: the token is worth no more
    const ends = [auth.certNotAfter, Date.parse(record.notAfter), ...(record.status === 'superseded' && record.graceUntil ? [Date.parse(record.graceUntil)] : [])];
    const exp = Math.min(iat + cfg.ttlSeconds, ...ends.map((t) => Math.floor(t / 1000)));
    if (exp <= iat) throw refuse('invalid_client', 'the client certificate ends now', 'certificate_ending');
    const claims: AccessTokenClaims = {
      iss,
      sub: record.clientId,
      aud: audiences.length === 1 ? audiences[0]! : [...audiences],
      client_id: record.clientId,
      iat,
      exp,
      jti: randomUUID(),
      scope: scopes.join(' '),
      cnf: { 'x5t#S256': auth.x5t },
    };
    let jwt: string;
    try {
      const signer = await deps.signer();
      jwt = await signer.signJwt({ typ: ACCESS_TOKEN_TYPE }, claims as unknown as Record<string, unknown>);
      entry.kid = signer.kid;
    } catch (e) {
      entry.error = (e as Error)?.message;
      throw refuse('server_error', 'the token could not be signed', 'signing_error');
    }
    entry.jti = claims.jti;
    entry.exp = exp;
    return json(200, { access_token: jwt, token_type: 'Bearer', expires_in: exp - iat, scope: claims.scope }, NO_STORE);
  }

  async function discovery(req: HttpRequest): Promise<HttpResponse> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(405, { error: 'invalid_request', error_description: 'GET only' }, { allow: 'GET, HEAD' });
    if (req.path === '/.well-known/jwks.json') {
      const set = await deps.jwks();
      // kept short and counted in the rotation's cache window (domain/token-keys.ts)
      return { statusCode: 200, headers: { 'content-type': 'application/jwk-set+json', 'cache-control': `public, max-age=${JWKS_MAX_AGE_SECONDS}` }, body: JSON.stringify({ keys: set.keys }) };
    }
    const iss = issuerOf(req);
    if (!iss || configError) return json(500, { error: 'server_error', error_description: 'the issuer is not configured' }, { 'cache-control': 'no-store' });
    // RFC 8414 §2 metadata of a client-credentials-only server authenticating clients by certificate (RFC 8705)
    const doc = {
      issuer: iss,
      token_endpoint: `${iss}/token`,
      jwks_uri: `${iss}/.well-known/jwks.json`,
      grant_types_supported: ['client_credentials'],
      response_types_supported: [],
      token_endpoint_auth_methods_supported: ['tls_client_auth'],
      tls_client_certificate_bound_access_tokens: true,
    };
    return json(200, doc, { 'cache-control': 'public, max-age=3600' });
  }

  return async function handle(req: HttpRequest): Promise<HttpResponse> {
    const started = Date.now();
    const entry: Record<string, unknown> = { level: 'info', msg: 'token endpoint', path: req?.path };
    let res: HttpResponse;
    try {
      if (!isObject(req) || typeof req.path !== 'string' || typeof req.method !== 'string') throw refuse('invalid_request', 'malformed request', 'malformed_event');
      if (req.path === '/.well-known/jwks.json' || req.path === '/.well-known/oauth-authorization-server') res = await discovery(req);
      else if (req.path === '/token') res = await token(req, entry);
      // a route of its own in API Gateway; anything else routed here is not the token endpoint
      else res = json(404, { error: 'invalid_request', error_description: 'not found' }, NO_STORE);
      entry.outcome = res.statusCode === 200 ? 'ok' : 'refused';
    } catch (e) {
      const r = e instanceof Refusal ? e : refuse('server_error', 'internal error', 'internal_error');
      if (!(e instanceof Refusal)) entry.error = (e as Error)?.message;
      res = oauthError(r.error, r.description);
      entry.outcome = 'refused';
      entry.reason = r.reason;
      entry.level = r.error === 'server_error' ? 'error' : 'warn';
    }
    entry.status = res.statusCode;
    entry.latencyMs = Date.now() - started;
    try {
      log(entry);
    } catch {
      // logging must not break the answer
    }
    return res;
  };
}
