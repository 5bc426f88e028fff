import type { RegistryReader } from '../ports.js';
import { createAuthorizer, type Authorizer, type AuthorizerDeps } from './authorizer.js';
import { readAuthorizerEnv, type AuthorizerEnv } from './config.js';

/**
 * Builds the authorizer from the environment. A bad environment does not throw: every request then denies
 * with `config_error` and the cause is logged, so the function still answers API Gateway with a 403.
 */
export function composeAuthorizer(
  env: Record<string, string | undefined>,
  makeRegistry: (e: AuthorizerEnv) => RegistryReader,
  extra: Pick<AuthorizerDeps, 'clock' | 'log'> = {},
): Authorizer {
  let parsed: AuthorizerEnv;
  let registry: RegistryReader;
  try {
    parsed = readAuthorizerEnv(env);
    registry = makeRegistry(parsed);
  } catch (e) {
    const initError = (e as Error).message;
    const failing: RegistryReader = { get: async () => Promise.reject(new Error(initError)) };
    const mode = env.CA_RESPONSE_MODE?.trim().toLowerCase() === 'iam' ? 'iam' : 'simple';
    return createAuthorizer({ registry: failing, config: { responseMode: mode }, initError, ...extra });
  }
  return createAuthorizer({ registry, config: parsed.config, ...extra });
}
