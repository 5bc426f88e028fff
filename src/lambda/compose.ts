import type { RegistryReader } from '../ports.js';
import { createAuthorizer, type Authorizer, type AuthorizerDeps } from './authorizer.js';
import { readAuthorizerEnv, type AuthorizerEnv } from './config.js';
import { loadTokenVerifier, type TokenSources } from './token-loader.js';

/**
 * Builds the authorizer from the environment. A bad environment does not throw: every request then denies
 * with `config_error` and the cause is logged, so the function still answers API Gateway with a 403.
 * `makeSources` gives a token mode its key set or secret (the Lambda: DynamoDB, Secrets Manager or SSM).
 */
export function composeAuthorizer(
  env: Record<string, string | undefined>,
  makeRegistry: (e: AuthorizerEnv) => RegistryReader,
  extra: Pick<AuthorizerDeps, 'clock' | 'monotonic' | 'log'> = {},
  makeSources: (e: AuthorizerEnv, registry: RegistryReader) => TokenSources = () => ({}),
): Authorizer {
  let parsed: AuthorizerEnv;
  let registry: RegistryReader;
  let sources: TokenSources;
  try {
    parsed = readAuthorizerEnv(env);
    registry = makeRegistry(parsed);
    sources = parsed.token ? makeSources(parsed, registry) : {};
  } catch (e) {
    const initError = (e as Error).message;
    const failing: RegistryReader = { get: async () => Promise.reject(new Error(initError)) };
    // The denials still answer in the format the API was set up for: the configured mode when it is valid,
    // else the default (a policy, which every API type accepts with AWS's default settings).
    const mode = env.CA_RESPONSE_MODE?.trim().toLowerCase();
    return createAuthorizer({ registry: failing, config: { responseMode: mode === 'simple' || mode === 'iam' ? mode : undefined }, initError, ...extra });
  }
  const token = parsed.token ? loadTokenVerifier(parsed.token, { jwksUrl: parsed.jwksUrl, ...sources, ...extra }) : undefined;
  return createAuthorizer({ registry, config: parsed.config, ...extra, ...(token ? { token } : {}) });
}
