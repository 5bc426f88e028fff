/**
 * The mutual-TLS authorizer: API Gateway checks the chain at the handshake but never revocation (aws-facts),
 * so this decides, per request, whether the presented client certificate is one the registry still accepts.
 * Imports nothing of the CLI or of @peculiar: it is bundled alone into the Lambda zip.
 */
import { X509Certificate, createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { CertificateRecord, Clock, RegistryReader } from '../ports.js';
import { acceptance } from '../domain/acceptance.js';
import { normalizeSerial } from '../domain/serial.js';
import { TtlLru } from './cache.js';
import { writeStdoutLine } from './stdout-line.js';
import { buildResponse, parseEvent, type AuthorizerResponse, type ContextValue, type EventShape } from './event.js';
import { TOKEN_DENY_REASONS, bearerToken, hasScopes, isBearerOnly, requiredScopes, type AuthorizerMode, type RouteScopes, type TokenClaims, type TokenDenyReason, type TokenVerdict, type TokenVerifier } from './token.js';

/** `token_valid`: a bearer-only mode's valid token */
export type AllowReason = 'active' | 'superseded_in_grace' | 'token_valid';
export type DenyReason =
  | 'malformed_event'
  | 'no_client_cert'
  | 'malformed_certificate'
  | 'not_a_client_certificate'
  | 'unknown_serial'
  | 'fingerprint_mismatch'
  | 'revoked'
  | 'superseded_grace_ended'
  | 'inactive'
  | 'expired'
  | 'not_yet_valid'
  | 'issuer_not_trusted'
  | 'client_id_mismatch'
  | 'invalid_record'
  | 'registry_error'
  | 'registry_timeout'
  | 'config_error'
  | 'internal_error'
  | TokenDenyReason;

/** Every deny reason, for documentation and tests. */
export const DENY_REASONS: readonly DenyReason[] = [
  'malformed_event',
  'no_client_cert',
  'malformed_certificate',
  'not_a_client_certificate',
  'unknown_serial',
  'fingerprint_mismatch',
  'revoked',
  'superseded_grace_ended',
  'inactive',
  'expired',
  'not_yet_valid',
  'issuer_not_trusted',
  'client_id_mismatch',
  'invalid_record',
  'registry_error',
  'registry_timeout',
  'config_error',
  'internal_error',
  ...TOKEN_DENY_REASONS,
];

export interface AuthorizerConfig {
  /** what is checked: the certificate (`mtls`, default), certificate and bound token, or a bearer token alone */
  mode?: AuthorizerMode;
  /** route key → scopes the token must carry (token modes only); see src/lambda/README.md */
  routeScopes?: RouteScopes;
  /**
   * HTTP API payload 2.0 answer: `iam` (policy, what an HTTP API authorizer expects unless simple responses are
   * enabled on it, and what REST always expects) or `simple` ({isAuthorized}, only with simple responses
   * enabled). v1 and REST always get a policy.
   */
  responseMode?: 'simple' | 'iam';
  /** how long a client record read from the registry is reused: the maximum revocation delay; 0 disables */
  cacheTtlMs?: number;
  /** how long an unknown serial is remembered (capped at cacheTtlMs) */
  negativeCacheTtlMs?: number;
  /** how long an intermediate's record is reused: the maximum delay of its retirement; 0 disables */
  caCacheTtlMs?: number;
  /** most client records kept (least recently used dropped first) */
  cacheMax?: number;
  /** the registry reads of one decision together, after which it denies */
  registryTimeoutMs?: number;
  /** CloudWatch namespace of the decision metrics (Embedded Metric Format); empty disables them */
  metricsNamespace?: string;
  /** larger clientCertPem values are refused unparsed */
  maxPemLength?: number;
  /**
   * the context keys of the Python/Terraform setup `ca import` adopts (serialNumber in decimal, clientCN,
   * validityNotBefore, validityNotAfter) beside ours: `imported` (default) on records that came from it (and their
   * re-issued ones), `python` on every allow, `off` never. See src/lambda/README.md.
   */
  compatContext?: 'imported' | 'python' | 'off';
}

export const AUTHORIZER_DEFAULTS: Required<AuthorizerConfig> = {
  mode: 'mtls',
  routeScopes: {},
  responseMode: 'iam',
  cacheTtlMs: 5_000,
  negativeCacheTtlMs: 1_000,
  caCacheTtlMs: 60_000,
  cacheMax: 10_000,
  registryTimeoutMs: 2_000,
  metricsNamespace: 'CaAuthorizer',
  maxPemLength: 16_384,
  compatContext: 'imported',
};

export interface AuthorizerDeps {
  registry: RegistryReader;
  /** wall-clock time: validity periods and grace ends */
  clock?: Clock;
  /**
   * milliseconds on a clock that never steps back (performance.now by default): every cache expiry. On the
   * wall clock, a clock stepped back would keep a revoked certificate's cached record alive that much longer.
   */
  monotonic?: () => number;
  config?: AuthorizerConfig;
  /** one structured entry per decision; defaults to one JSON line on stdout */
  log?: (entry: object) => void;
  /** set by a composition root that could not configure itself: every request denies with config_error */
  initError?: string;
  /** the token verifier of every mode but mtls (loaded lazily by the composition root: ./token-verifier.ts) */
  token?: Promise<TokenVerifier>;
}

export type Authorizer = (event: unknown) => Promise<AuthorizerResponse>;

/** Identity of the presented certificate, derived from its DER only (never from API Gateway's strings). */
interface PresentedCert {
  x509: X509Certificate;
  serial: string;
  fingerprint: string;
  x5tS256: string;
  notBefore: number;
  notAfter: number;
  commonNames: string[];
  spiffeIds: string[];
}

interface Decision {
  allow: boolean;
  reason: AllowReason | DenyReason;
  cert?: PresentedCert;
  record?: CertificateRecord;
  /** registry reads this decision made (0 when served from the caches) */
  reads: number;
  error?: string;
  /** the verified token's claims (token modes) */
  claims?: TokenClaims;
}

class RegistryFailure {
  constructor(
    readonly reason: 'registry_error' | 'registry_timeout',
    readonly error?: unknown,
  ) {}
}

const systemClock: Clock = { now: () => new Date() };

function defaultLog(entry: object): void {
  // Straight to stdout, not console.log: Lambda prefixes console lines, and an EMF line must be bare JSON.
  writeStdoutLine(JSON.stringify(entry));
}

function nonNegative(name: string, v: number): number {
  if (!Number.isFinite(v) || v < 0) throw new Error(`authorizer config ${name} must be a number >= 0, got ${v}`);
  return v;
}

/** Resolves defaults and checks ranges. @throws Error on an invalid value */
export function resolveAuthorizerConfig(c: AuthorizerConfig = {}): Required<AuthorizerConfig> {
  const r = { ...AUTHORIZER_DEFAULTS, ...Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)) } as Required<AuthorizerConfig>;
  if (r.responseMode !== 'simple' && r.responseMode !== 'iam') throw new Error(`authorizer config responseMode must be simple or iam, got ${String(r.responseMode)}`);
  if (!['mtls', 'mtls+token', 'jwt-hs256', 'jwt-jwks', 'spiffe-jwt-svid'].includes(r.mode)) throw new Error(`authorizer config mode must be mtls, mtls+token, jwt-hs256, jwt-jwks or spiffe-jwt-svid, got ${String(r.mode)}`);
  if (!['imported', 'python', 'off'].includes(r.compatContext)) throw new Error(`authorizer config compatContext must be imported, python or off, got ${String(r.compatContext)}`);
  nonNegative('cacheTtlMs', r.cacheTtlMs);
  nonNegative('negativeCacheTtlMs', r.negativeCacheTtlMs);
  nonNegative('caCacheTtlMs', r.caCacheTtlMs);
  nonNegative('cacheMax', r.cacheMax);
  if (!(r.registryTimeoutMs > 0) || r.registryTimeoutMs > 9_000) {
    // HTTP API gives an authorizer 10 s (aws-facts); the deny must come back well inside that.
    throw new Error(`authorizer config registryTimeoutMs must be from 1 to 9000, got ${r.registryTimeoutMs}`);
  }
  return { ...r, negativeCacheTtlMs: Math.min(r.negativeCacheTtlMs, r.cacheTtlMs) };
}

function parsePresented(pem: string, maxLength: number): PresentedCert | undefined {
  if (pem.length > maxLength || !pem.includes('-----BEGIN CERTIFICATE-----')) return undefined;
  let x: X509Certificate;
  try {
    x = new X509Certificate(pem);
  } catch {
    return undefined;
  }
  const notBefore = Date.parse(x.validFrom);
  const notAfter = Date.parse(x.validTo);
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) return undefined;
  const digest = createHash('sha256').update(x.raw).digest();
  return {
    x509: x,
    // the same normalisation the registry's serials went through (domain/serial.ts)
    serial: normalizeSerial(x.serialNumber),
    fingerprint: digest.toString('hex'),
    // RFC 8705 section 3.1: base64url SHA-256 of the DER, no padding
    x5tS256: digest.toString('base64url'),
    notBefore,
    notAfter,
    commonNames: x.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3)),
    spiffeIds: uriSans(x.subjectAltName).filter((u) => u.toLowerCase().startsWith('spiffe://')),
  };
}

/** URI entries of Node's subjectAltName string; values with special characters come JSON-quoted. */
function uriSans(san: string | undefined): string[] {
  if (!san) return [];
  const out: string[] = [];
  for (const m of san.matchAll(/(?:^|, )URI:("(?:[^"\\]|\\.)*"|[^,]*)/g)) {
    const v = m[1]!;
    try {
      out.push(v.startsWith('"') ? (JSON.parse(v) as string) : v);
    } catch {
      out.push(v);
    }
  }
  return out;
}

const validDate = (s: unknown): number => (typeof s === 'string' ? Date.parse(s) : NaN);

/**
 * Builds the authorizer. The returned function never throws: anything unexpected is a Deny.
 */
export function createAuthorizer(deps: AuthorizerDeps): Authorizer {
  const clock = deps.clock ?? systemClock;
  const monotonic = deps.monotonic ?? (() => performance.now());
  const log = deps.log ?? defaultLog;
  let cfg: Required<AuthorizerConfig>;
  let configError: string | undefined = deps.initError;
  try {
    cfg = resolveAuthorizerConfig(deps.config);
  } catch (e) {
    configError ??= (e as Error).message;
    // The denial must still come in the format the API accepts: keep the response mode if it is a valid one.
    const mode = deps.config?.responseMode;
    cfg = { ...AUTHORIZER_DEFAULTS, ...(mode === 'simple' || mode === 'iam' ? { responseMode: mode } : {}) };
  }
  const clients = new TtlLru<string, CertificateRecord | null>(cfg.cacheMax);
  const cas = new TtlLru<string, CertificateRecord | null>(256);
  const parsedCas = new TtlLru<string, X509Certificate>(64);
  // A signature check's result never changes: remember it by (certificate, issuer) fingerprints.
  const verified = new TtlLru<string, boolean>(cfg.cacheMax);
  // Parsing a certificate costs ~0.2 ms, most of a warm decision; the same PEM always parses the same way.
  const presented = new TtlLru<string, PresentedCert>(Math.min(cfg.cacheMax, 1_000));

  async function read(serial: string, deadline: number): Promise<CertificateRecord | undefined> {
    const left = deadline - performance.now();
    if (left <= 0) throw new RegistryFailure('registry_timeout');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new RegistryFailure('registry_timeout')), left);
    });
    try {
      return await Promise.race([Promise.resolve().then(() => deps.registry.get(serial)), timeout]);
    } catch (e) {
      throw e instanceof RegistryFailure ? e : new RegistryFailure('registry_error', e);
    } finally {
      clearTimeout(timer);
    }
  }

  /** A registry answer through a cache; errors are never cached. */
  async function cachedGet(
    cache: TtlLru<string, CertificateRecord | null>,
    serial: string,
    ttl: number,
    negativeTtl: number,
    nowMs: number,
    deadline: number,
    d: Decision,
  ): Promise<CertificateRecord | undefined> {
    const hit = ttl > 0 ? cache.get(serial, nowMs) : undefined;
    if (hit) return hit.value ?? undefined;
    d.reads++;
    const r = await read(serial, deadline);
    const keep = r ? ttl : negativeTtl;
    if (keep > 0) cache.set(serial, r ?? null, nowMs + keep);
    return r;
  }

  function issuerCertificate(ca: CertificateRecord): X509Certificate | undefined {
    const hit = parsedCas.get(ca.fingerprint, 0);
    if (hit) return hit.value;
    try {
      const x = new X509Certificate(ca.certificatePem);
      // the record's PEM must be the certificate the record describes
      if (createHash('sha256').update(x.raw).digest('hex') !== ca.fingerprint) return undefined;
      parsedCas.set(ca.fingerprint, x, Infinity);
      return x;
    } catch {
      return undefined;
    }
  }

  async function decide(pem: string, now: Date, deadline: number, d: Decision): Promise<void> {
    const deny = (reason: DenyReason) => {
      d.allow = false;
      d.reason = reason;
    };
    let cert = presented.get(pem, 0)?.value;
    if (!cert) {
      cert = parsePresented(pem, cfg.maxPemLength);
      if (!cert) return deny('malformed_certificate');
      presented.set(pem, cert, Infinity);
    }
    d.cert = cert;
    if (cert.x509.ca) return deny('not_a_client_certificate');
    const t = now.getTime();
    if (t < cert.notBefore) return deny('not_yet_valid');
    if (t >= cert.notAfter) return deny('expired');

    const nowMs = monotonic(); // cache expiry only: never the wall clock
    const record = await cachedGet(clients, cert.serial, cfg.cacheTtlMs, cfg.negativeCacheTtlMs, nowMs, deadline, d);
    if (!record) return deny('unknown_serial');
    d.record = record;
    if (record.kind !== 'client') return deny('not_a_client_certificate');
    if (record.fingerprint !== cert.fingerprint) return deny('fingerprint_mismatch');
    // the domain's one rule, also behind `ca status`, `ca list`, rotation and retirement
    const verdict = acceptance(record, now);
    if (!verdict.accepted) return deny(verdict.reason);
    const allowReason: AllowReason = verdict.reason;

    if (typeof record.clientId !== 'string' || cert.commonNames.length !== 1 || cert.commonNames[0] !== record.clientId) return deny('client_id_mismatch');
    if (cert.spiffeIds.length > 1) return deny('client_id_mismatch');
    const spiffe = cert.spiffeIds[0];
    if ((record.spiffeId ?? undefined) !== spiffe) return deny('client_id_mismatch');
    if (spiffe !== undefined && spiffe.split('/').pop() !== record.clientId) return deny('client_id_mismatch');

    if (typeof record.issuerSerial !== 'string' || !record.issuerSerial) return deny('issuer_not_trusted');
    const ca = await cachedGet(cas, record.issuerSerial, cfg.caCacheTtlMs, Math.min(cfg.caCacheTtlMs, cfg.negativeCacheTtlMs), nowMs, deadline, d);
    if (!ca || ca.kind !== 'intermediate' || (ca.status !== 'active' && ca.status !== 'superseded')) return deny('issuer_not_trusted');
    const caNb = validDate(ca.notBefore);
    const caNa = validDate(ca.notAfter);
    if (!(t >= caNb && t < caNa)) return deny('issuer_not_trusted');
    const issuer = issuerCertificate(ca);
    if (!issuer) return deny('issuer_not_trusted');
    const key = `${cert.fingerprint}:${ca.fingerprint}`;
    let ok = verified.get(key, 0)?.value;
    if (ok === undefined) {
      ok = cert.x509.checkIssued(issuer) && cert.x509.verify(issuer.publicKey);
      verified.set(key, ok, Infinity);
    }
    if (!ok) return deny('issuer_not_trusted');
    d.allow = true;
    d.reason = allowReason;
  }

  if (!configError && cfg.mode !== 'mtls' && !deps.token) configError = `mode ${cfg.mode} has no token verifier`;
  // a verifier that failed to load (its module, its settings) denies with config_error, never throws
  const token = deps.token?.catch((e: unknown): TokenVerifier => ({ verify: async () => ({ ok: false, reason: 'config_error', error: describeError(e) }) }));
  // once loaded, used directly: a warm decision should not pay a promise hop for it
  let verifier: TokenVerifier | undefined;
  void token?.then((v) => (verifier = v));
  const scoped = Object.keys(cfg.routeScopes).length > 0;
  const tokenContexts = new WeakMap<object, Record<string, ContextValue>>();

  /** The bearer token of the event, or the problem with its Authorization header; verified when there is one. */
  async function verifyBearer(event: unknown): Promise<{ problem: DenyReason } | { verdict: TokenVerdict }> {
    const b = bearerToken(event);
    if (!b.token) return { problem: b.problem! };
    return { verdict: await (verifier ?? (await token!)).verify(b.token) };
  }

  /**
   * The bearer token of the event, verified (`early`: that verification, started beside the registry reads); for
   * mtls+token also bound to the presented certificate (RFC 8705 §3).
   */
  async function checkToken(event: unknown, d: Decision, early?: ReturnType<typeof verifyBearer>): Promise<void> {
    const deny = (reason: DenyReason, error?: string) => {
      d.allow = false;
      d.reason = reason;
      if (error) d.error = error;
    };
    const r = await (early ?? verifyBearer(event));
    if ('problem' in r) return deny(r.problem);
    const v = r.verdict;
    if (!v.ok) return deny(v.reason, v.error);
    d.claims = v.claims;
    if (cfg.mode === 'mtls+token') {
      const cnf = v.claims.cnf as Record<string, unknown>;
      if (cnf['x5t#S256'] !== d.cert!.x5tS256) return deny('token_cert_mismatch');
      if (v.claims.client_id !== d.record!.clientId) return deny('token_client_mismatch');
    }
    if (scoped && !hasScopes(v.claims, requiredScopes(cfg.routeScopes, event))) return deny('insufficient_scope');
    d.allow = true;
    d.reason = cfg.mode === 'mtls+token' ? d.reason : 'token_valid';
  }

  return async function authorize(event: unknown): Promise<AuthorizerResponse> {
    const started = performance.now();
    const d: Decision = { allow: false, reason: 'internal_error', reads: 0 };
    let shape: EventShape | undefined;
    let resource: string | undefined;
    try {
      const parsed = parseEvent(event);
      shape = parsed.shape;
      resource = parsed.resource;
      if (configError) d.reason = 'config_error';
      else if (isBearerOnly(cfg.mode)) {
        // no certificate needed: a TOKEN event or a REQUEST event without one is well formed here
        if (parsed.problem === 'malformed_event') d.reason = parsed.problem;
        else await checkToken(event, d);
      } else if (parsed.problem) d.reason = parsed.problem;
      else {
        // mtls+token: the token's signature needs only the key set, so it is checked while the registry is read
        // (at a cold start, WebCrypto's verification overlaps the certificate's reads instead of following them)
        const early = cfg.mode === 'mtls+token' ? verifyBearer(event) : undefined;
        early?.catch(() => {});
        await decide(parsed.clientCertPem!, clock.now(), started + cfg.registryTimeoutMs, d);
        if (d.allow && early) await checkToken(event, d, early);
      }
    } catch (e) {
      d.allow = false;
      if (e instanceof RegistryFailure) {
        d.reason = e.reason;
        if (e.error !== undefined) d.error = describeError(e.error);
      } else {
        d.reason = 'internal_error';
        d.error = describeError(e);
      }
    }
    const bearerOnly = isBearerOnly(cfg.mode);
    const claimText = (k: string) => (typeof d.claims?.[k] === 'string' ? (d.claims[k] as string) : undefined);
    const clientId = d.allow ? (bearerOnly ? (claimText('client_id') ?? claimText('sub')) : d.record!.clientId) : undefined;
    let tokenContext: Record<string, ContextValue> = {};
    if (d.claims) {
      // the same claims object comes back from the verifier's cache: build its context keys once
      tokenContext = tokenContexts.get(d.claims) ?? {
        ...(claimText('sub') ? { sub: claimText('sub')! } : {}),
        ...(claimText('scope') !== undefined ? { scope: claimText('scope')! } : {}),
        tokenExp: new Date(d.claims.exp * 1000).toISOString(),
        ...(claimText('jti') ? { tokenId: claimText('jti')! } : {}),
      };
      tokenContexts.set(d.claims, tokenContext);
    }
    const context: Record<string, ContextValue> = d.allow && bearerOnly
      ? { ...(clientId ? { clientId } : {}), ...tokenContext, mode: cfg.mode }
      : d.allow
      ? {
          clientId: d.record!.clientId,
          serial: d.cert!.serial,
          fingerprint: d.cert!.fingerprint,
          x5tS256: d.cert!.x5tS256,
          notAfter: new Date(d.cert!.notAfter).toISOString(),
          ...(d.cert!.spiffeIds[0] ? { spiffeId: d.cert!.spiffeIds[0] } : {}),
          ...(cfg.compatContext === 'python' || (cfg.compatContext === 'imported' && typeof d.record!.importedFrom === 'string') ? compatKeys(d.cert!) : {}),
          ...tokenContext,
        }
      : { reason: d.reason };
    emit(d, shape, started, clientId ?? (typeof d.record?.clientId === 'string' ? d.record.clientId : undefined));
    return buildResponse({ shape, resource, mode: cfg.responseMode, allow: d.allow, principalId: clientId ?? 'anonymous', context });
  };

  function emit(d: Decision, shape: EventShape | undefined, started: number, clientId: string | undefined): void {
    const decision = d.allow ? 'Allow' : 'Deny';
    const failed = d.reason === 'registry_error' || d.reason === 'registry_timeout' || d.reason === 'internal_error' || d.reason === 'config_error' || d.reason === 'key_set_error';
    const entry: Record<string, unknown> = {
      level: d.allow ? 'info' : failed ? 'error' : 'warn',
      msg: 'authorizer decision',
      decision,
      reason: d.reason,
      ...(shape ? { shape } : {}),
      ...(cfg.mode !== 'mtls' ? { mode: cfg.mode } : {}),
      ...(clientId ? { clientId } : {}),
      ...(d.cert ? { serial: d.cert.serial } : {}),
      registryReads: d.reads,
      latencyMs: Math.round((performance.now() - started) * 1000) / 1000,
      ...(d.error ? { error: d.error } : {}),
      ...(configError ? { configError } : {}),
    };
    if (cfg.metricsNamespace) {
      // CloudWatch Embedded Metric Format: the log line is the metric, no PutMetricData call on the hot path.
      entry._aws = {
        Timestamp: Date.now(),
        CloudWatchMetrics: [{ Namespace: cfg.metricsNamespace, Dimensions: [['decision', 'reason']], Metrics: [{ Name: 'Decisions', Unit: 'Count' }] }],
      };
      entry.Decisions = 1;
    }
    try {
      log(entry);
    } catch {
      // a failing logger must not turn a decision into an exception
    }
  }
}

/**
 * The allow context the Python/Terraform setup gave its backends (`clientId` is shared with ours and means the same):
 * the serial in decimal, the CN, the validity period as ISO-8601 UTC.
 */
function compatKeys(c: PresentedCert): Record<string, ContextValue> {
  return {
    serialNumber: BigInt(`0x${c.serial}`).toString(10),
    clientCN: c.commonNames[0] ?? '',
    validityNotBefore: new Date(c.notBefore).toISOString(),
    validityNotAfter: new Date(c.notAfter).toISOString(),
  };
}

/** The error's name and first line, bounded: SDK errors can be long, and nothing here may carry a PEM. */
function describeError(e: unknown): string {
  const name = e instanceof Error ? e.name : typeof e;
  const message = e instanceof Error ? e.message : String(e);
  const line = (message.split('\n')[0] ?? '').replace(/-----BEGIN[\s\S]*/g, '[pem]').slice(0, 200);
  return `${name}: ${line}`;
}
