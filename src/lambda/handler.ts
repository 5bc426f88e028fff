/**
 * The Lambda composition root (handler `index.handler` in the zip): the DynamoDB registry, configured from
 * the environment once per cold start. Nothing of the CLI is imported here.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDbRegistry } from '../adapters/aws/dynamodb-registry.js';
import { AUTHORIZER_DEFAULTS } from './authorizer.js';
import { composeAuthorizer } from './compose.js';
import type { AuthorizerResponse } from './event.js';

const authorize = composeAuthorizer(process.env, (e) => {
  const timeout = e.config.registryTimeoutMs ?? AUTHORIZER_DEFAULTS.registryTimeoutMs;
  const client = new DynamoDBClient({
    region: e.region,
    // One retry at most: the authorizer's own deadline bounds the whole read anyway.
    maxAttempts: 2,
    requestHandler: { connectionTimeout: Math.min(1_000, timeout), requestTimeout: timeout },
  });
  return new DynamoDbRegistry({ client, tableName: e.tableName });
});

/** API Gateway REQUEST authorizer entry point (HTTP API payload 1.0/2.0, REST). Never throws. */
export async function handler(event: unknown): Promise<AuthorizerResponse> {
  return authorize(event);
}
