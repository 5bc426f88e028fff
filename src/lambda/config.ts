import type { AuthorizerConfig } from './authorizer.js';
import { AUTHORIZER_MODES, isBearerOnly, parseRouteScopes, type AuthorizerMode } from './token.js';
import type { TokenSettings } from './token-verifier.js';
import { TRUST_DOMAIN } from '../domain/spiffe.js';

/** Where the jwt-hs256 secret is read from at cold start. */
export type SecretSource = { kind: 'secretsmanager'; secretId: string } | { kind: 'ssm'; name: string };

/** What the Lambda reads from its environment at cold start. */
export interface AuthorizerEnv {
  /** the registry table; empty in the bearer-only modes, which read no registry */
  tableName: string;
  region: string;
  config: AuthorizerConfig;
  /** the token checks of every mode but mtls */
  token?: TokenSettings;
  /** jwt-hs256: the secret's home */
  secret?: SecretSource;
  /** jwt-jwks, spiffe-jwt-svid: the key set's URL */
  jwksUrl?: string;
}

/** Defaults of the token settings (see src/lambda/README.md). */
export const TOKEN_DEFAULTS = { keySetCacheMs: 300_000, keySetCooldownMs: 30_000, tokenCacheMs: 60_000, clockToleranceS: 0 } as const;

/** CA_AUTHORIZER_MODE, `mtls` when unset. @throws Error on an unknown mode */
export function parseAuthorizerMode(raw: string | undefined, name = 'CA_AUTHORIZER_MODE'): AuthorizerMode {
  const m = raw?.trim().toLowerCase() || 'mtls';
  if (!(AUTHORIZER_MODES as readonly string[]).includes(m)) throw new Error(`${name} must be one of ${AUTHORIZER_MODES.join(', ')}, got ${JSON.stringify(raw)}`);
  return m as AuthorizerMode;
}

const text = (env: Record<string, string | undefined>, name: string) => env[name]?.trim() || undefined;

/**
 * The token settings of a mode from the environment; undefined for mtls.
 * @throws Error naming the variable that is missing or invalid
 */
export function readTokenEnv(env: Record<string, string | undefined>, mode: AuthorizerMode): Pick<AuthorizerEnv, 'token' | 'secret' | 'jwksUrl'> {
  if (mode === 'mtls') return {};
  const ours = mode === 'mtls+token';
  const issuer = text(env, ours ? 'CA_TOKEN_ISSUER' : 'CA_JWT_ISSUER');
  const audience = text(env, ours ? 'CA_TOKEN_AUDIENCE' : 'CA_JWT_AUDIENCE');
  if (!audience) throw new Error(`${ours ? 'CA_TOKEN_AUDIENCE' : 'CA_JWT_AUDIENCE'} is not set: mode ${mode} checks the token's aud against it`);
  if (!issuer && mode !== 'spiffe-jwt-svid') throw new Error(`${ours ? 'CA_TOKEN_ISSUER' : 'CA_JWT_ISSUER'} is not set: mode ${mode} checks the token's iss against it`);
  const algs = text(env, 'CA_JWT_ALGORITHMS');
  const token: TokenSettings = {
    mode,
    issuer,
    audience,
    ...(algs && !ours ? { algorithms: algs.split(',').map((a) => a.trim()).filter(Boolean) } : {}),
    keySetCacheMs: integer(env, 'CA_JWKS_CACHE_MS', 86_400_000) ?? TOKEN_DEFAULTS.keySetCacheMs,
    keySetCooldownMs: integer(env, 'CA_JWKS_COOLDOWN_MS', 3_600_000) ?? TOKEN_DEFAULTS.keySetCooldownMs,
    tokenCacheMs: integer(env, 'CA_TOKEN_CACHE_TTL_MS', 3_600_000) ?? TOKEN_DEFAULTS.tokenCacheMs,
    clockToleranceS: integer(env, 'CA_TOKEN_CLOCK_SKEW_S', 300) ?? TOKEN_DEFAULTS.clockToleranceS,
  };
  if (mode === 'spiffe-jwt-svid') {
    const td = text(env, 'CA_SPIFFE_TRUST_DOMAIN');
    if (!td || !TRUST_DOMAIN.test(td)) throw new Error(`CA_SPIFFE_TRUST_DOMAIN must be set to a trust domain (lowercase letters, digits, '.', '_', '-'), got ${JSON.stringify(env.CA_SPIFFE_TRUST_DOMAIN)}`);
    token.trustDomain = td;
  }
  const out: Pick<AuthorizerEnv, 'token' | 'secret' | 'jwksUrl'> = { token };
  if (mode === 'jwt-hs256') {
    const arn = text(env, 'CA_JWT_SECRET_ARN');
    const parameter = text(env, 'CA_JWT_SECRET_PARAMETER');
    // no default secret: a missing one is a setup error, never a built-in value
    if (!arn === !parameter) throw new Error('mode jwt-hs256 needs exactly one of CA_JWT_SECRET_ARN (Secrets Manager) and CA_JWT_SECRET_PARAMETER (SSM SecureString)');
    out.secret = arn ? { kind: 'secretsmanager', secretId: arn } : { kind: 'ssm', name: parameter! };
  }
  if (mode === 'jwt-jwks' || mode === 'spiffe-jwt-svid') {
    const url = text(env, 'CA_JWKS_URL');
    if (!url) throw new Error(`CA_JWKS_URL is not set: mode ${mode} reads its keys from it`);
    out.jwksUrl = url;
  }
  return out;
}

function integer(env: Record<string, string | undefined>, name: string, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return undefined;
  if (!/^\d+$/.test(raw.trim())) throw new Error(`${name} must be a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw.trim());
  if (n > max) throw new Error(`${name} must be at most ${max}, got ${n}`);
  return n;
}

/**
 * Reads and validates the authorizer's environment (see src/lambda/README.md).
 * @throws Error naming the variable that is missing or invalid
 */
export function readAuthorizerEnv(env: Record<string, string | undefined>): AuthorizerEnv {
  const authorizerMode = parseAuthorizerMode(env.CA_AUTHORIZER_MODE);
  const tableName = env.CA_TABLE?.trim() ?? '';
  if (!tableName && !isBearerOnly(authorizerMode)) throw new Error('CA_TABLE is not set: give the name of the DynamoDB table that holds the certificate registry');
  const region = (env.AWS_REGION ?? env.AWS_DEFAULT_REGION)?.trim();
  if (!region) throw new Error('AWS_REGION is not set (Lambda sets it; set it yourself when running elsewhere)');
  const mode = env.CA_RESPONSE_MODE?.trim().toLowerCase() || undefined;
  if (mode !== undefined && mode !== 'simple' && mode !== 'iam') throw new Error(`CA_RESPONSE_MODE must be simple or iam, got ${JSON.stringify(env.CA_RESPONSE_MODE)}`);
  const compat = env.CA_COMPAT_CONTEXT?.trim().toLowerCase() || undefined;
  if (compat !== undefined && compat !== 'imported' && compat !== 'python' && compat !== 'off') {
    throw new Error(`CA_COMPAT_CONTEXT must be imported, python or off, got ${JSON.stringify(env.CA_COMPAT_CONTEXT)}`);
  }
  const ns = env.CA_METRICS_NAMESPACE;
  const timeout = integer(env, 'CA_REGISTRY_TIMEOUT_MS', 9_000);
  if (timeout === 0) throw new Error('CA_REGISTRY_TIMEOUT_MS must be at least 1');
  const scopes = text(env, 'CA_ROUTE_SCOPES');
  return {
    tableName,
    region,
    ...readTokenEnv(env, authorizerMode),
    config: {
      ...(authorizerMode !== 'mtls' ? { mode: authorizerMode } : {}),
      ...(scopes ? { routeScopes: parseRouteScopes(scopes) } : {}),
      responseMode: mode as 'simple' | 'iam' | undefined,
      cacheTtlMs: integer(env, 'CA_CACHE_TTL_MS', 3_600_000),
      negativeCacheTtlMs: integer(env, 'CA_NEGATIVE_CACHE_TTL_MS', 3_600_000),
      caCacheTtlMs: integer(env, 'CA_ISSUER_CACHE_TTL_MS', 3_600_000),
      cacheMax: integer(env, 'CA_CACHE_MAX', 10_000_000),
      registryTimeoutMs: timeout,
      compatContext: compat as 'imported' | 'python' | 'off' | undefined,
      metricsNamespace: ns === undefined ? undefined : ns.trim().toLowerCase() === 'off' ? '' : ns.trim(),
    },
  };
}
