/**
 * The Lambda composition root (handler `index.handler` in the zip): the registry is read with one signed
 * DynamoDB GetItem per record (DynamoDbGetItemReader, no AWS SDK client), configured from the environment
 * once per cold start. The token modes read their key set (mtls+token: the registry's TOKEN#JWKS item) or
 * their secret (jwt-hs256: Secrets Manager or SSM, once) with signed requests too. Nothing of the CLI is imported.
 */
import { DynamoDbGetItemReader, getItemReaderEnv } from '../adapters/aws/dynamodb-reader.js';
import { readHmacSecrets } from '../adapters/aws/secret-reader.js';
import { AUTHORIZER_DEFAULTS } from './authorizer.js';
import { composeAuthorizer } from './compose.js';
import type { AuthorizerResponse } from './event.js';
import { isBearerOnly } from './token.js';
import type { RegistryReader } from '../ports.js';

const authorize = composeAuthorizer(
  process.env,
  (e) => {
    // the bearer-only modes read no registry: any read would be a bug, and denies
    if (isBearerOnly(e.config.mode ?? 'mtls')) return { get: async () => Promise.reject(new Error('no registry in a bearer-only mode')) } satisfies RegistryReader;
    const reader = new DynamoDbGetItemReader({
      tableName: e.tableName,
      region: e.region,
      ...getItemReaderEnv(process.env, e.region),
      // The authorizer's own deadline bounds all reads of a decision; one read never needs longer.
      timeoutMs: e.config.registryTimeoutMs ?? AUTHORIZER_DEFAULTS.registryTimeoutMs,
    });
    // Cold start: TLS and the connection to DynamoDB are set up during the init phase, not by the first request.
    reader.preconnect();
    return reader;
  },
  {},
  (e, registry) => {
    if (e.config.mode === 'mtls+token') return { keySet: () => (registry as DynamoDbGetItemReader).tokenKeySet() };
    if (e.secret) {
      const { credentials } = getItemReaderEnv(process.env, e.region);
      const source = e.secret.kind === 'secretsmanager' ? { kind: 'secretsmanager' as const, secretId: e.secret.secretId } : { kind: 'ssm' as const, name: e.secret.name };
      return { secrets: () => readHmacSecrets({ source, region: e.region, credentials, env: process.env, timeoutMs: 3_000 }) };
    }
    return {};
  },
);

/** API Gateway authorizer entry point (REQUEST: HTTP API payload 1.0/2.0, REST; TOKEN in the bearer-only modes). Never throws. */
export async function handler(event: unknown): Promise<AuthorizerResponse> {
  return authorize(event);
}
