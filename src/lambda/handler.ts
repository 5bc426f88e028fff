/**
 * The Lambda composition root (handler `index.handler` in the zip): the registry is read with one signed
 * DynamoDB GetItem per record (DynamoDbGetItemReader, no AWS SDK client), configured from the environment
 * once per cold start. Nothing of the CLI is imported here.
 */
import { DynamoDbGetItemReader, getItemReaderEnv } from '../adapters/aws/dynamodb-reader.js';
import { AUTHORIZER_DEFAULTS } from './authorizer.js';
import { composeAuthorizer } from './compose.js';
import type { AuthorizerResponse } from './event.js';

const authorize = composeAuthorizer(process.env, (e) => {
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
});

/** API Gateway REQUEST authorizer entry point (HTTP API payload 1.0/2.0, REST). Never throws. */
export async function handler(event: unknown): Promise<AuthorizerResponse> {
  return authorize(event);
}
