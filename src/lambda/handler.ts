/**
 * The Lambda composition root (handler `index.handler` in the zip): the registry is read with one signed
 * DynamoDB GetItem per record (DynamoDbGetItemReader, no AWS SDK client; in mtls+token, the cold start's key set
 * and first client record in one BatchGetItem), configured from the environment
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

/** The longest the init phase waits for the registry's TCP connection (DNS included): well within Lambda's 10 s init. */
const PRECONNECT_WAIT_MS = 250;

/** the registry connection's start, awaited below */
let connecting: Promise<void> | undefined;

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
      // One connection: a Lambda instance runs one decision at a time, whose reads are few and mostly in turn. At
      // cold start, mtls+token's key set read and the first decision's reads then queue on the connection opened
      // during initialisation instead of paying a second TLS handshake.
      maxConnections: 1,
      // mtls+token: the key set and the first client record, both asked for during the handshake, in one
      // BatchGetItem (one round trip at cold start instead of two)
      batchWhileConnecting: e.config.mode === 'mtls+token',
    });
    // Cold start: TLS and the connection to DynamoDB are set up during the init phase, not by the first request.
    connecting = reader.preconnect(PRECONNECT_WAIT_MS);
    return reader;
  },
  {},
  (e, registry) => {
    // Node opens a connection on its next tick, after the microtasks now queued: the verifier (jose, the key set
    // read) loads once the connection is up, so its work does not hold back the handshake's first packet.
    if (e.config.mode === 'mtls+token') return { keySet: () => (registry as DynamoDbGetItemReader).tokenKeySet(), ...(connecting ? { after: connecting } : {}) };
    if (e.secret) {
      const { credentials } = getItemReaderEnv(process.env, e.region);
      const source = e.secret.kind === 'secretsmanager' ? { kind: 'secretsmanager' as const, secretId: e.secret.secretId } : { kind: 'ssm' as const, name: e.secret.name };
      return { secrets: () => readHmacSecrets({ source, region: e.region, credentials, env: process.env, timeoutMs: 3_000 }) };
    }
    return {};
  },
);

// Init waits until the connection's TCP handshake is done and the TLS client hello is out (bounded; it never
// fails): Node starts a connection on its next tick and answers the server's hello only between tasks, so
// without this wait a first request arriving at once would find the connection not even started. The server's
// side of the TLS handshake then runs while the first decision does its own work.
await connecting;

/** API Gateway authorizer entry point (REQUEST: HTTP API payload 1.0/2.0, REST; TOKEN in the bearer-only modes). Never throws. */
export async function handler(event: unknown): Promise<AuthorizerResponse> {
  return authorize(event);
}
