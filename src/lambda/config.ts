import type { AuthorizerConfig } from './authorizer.js';

/** What the Lambda reads from its environment at cold start. */
export interface AuthorizerEnv {
  tableName: string;
  region: string;
  config: AuthorizerConfig;
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
  const tableName = env.CA_TABLE?.trim();
  if (!tableName) throw new Error('CA_TABLE is not set: give the name of the DynamoDB table that holds the certificate registry');
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
  return {
    tableName,
    region,
    config: {
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
