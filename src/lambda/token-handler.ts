/**
 * The token Lambda's composition root (handler `index.handler` in token.zip): client certificates checked against
 * the registry with one signed DynamoDB GetItem each (DynamoDbGetItemReader), the key set read from the registry
 * table's `TOKEN#JWKS` item (to sign, at most once a minute: a new key is published 11 min 30 s before it signs,
 * so a minute-old copy always knows it in time; for the JWKS route, on every request), tokens signed by KMS. This function never creates or rotates keys
 * (`ca token-key rotate` does): it needs kms:Sign on the token keys and dynamodb:GetItem on the table, nothing more.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import type { TokenKeyEntry, TokenSigner } from '../ports.js';
import { DynamoDbGetItemReader, getItemReaderEnv } from '../adapters/aws/dynamodb-reader.js';
import { DynamoDbTokenKeySet, KmsTokenKeyCustody } from '../adapters/aws/kms-token-keys.js';
import { jwksOf, signingEntry } from '../domain/token-keys.js';
import { oauthError } from '../domain/token-endpoint.js';
import { createTokenHandler, readTokenEnv, type ProxyResponse } from './token-service.js';
import { writeStdoutLine } from './stdout-line.js';

const KEY_SET_TTL_MS = 60_000;

function compose(): (event: unknown) => Promise<ProxyResponse> {
  const env = readTokenEnv(process.env);
  const registry = new DynamoDbGetItemReader({ tableName: env.tableName, region: env.region, ...getItemReaderEnv(process.env, env.region), timeoutMs: 3_000 });
  const set = new DynamoDbTokenKeySet({ client: new DynamoDBClient({ region: env.region }), tableName: env.tableName });
  const custody = new KmsTokenKeyCustody({ client: new KMSClient({ region: env.region }), caName: env.tableName });
  let cached: { at: number; entries: TokenKeyEntry[] } | undefined;
  const entries = async () => {
    if (!cached || Date.now() - cached.at > KEY_SET_TTL_MS) cached = { at: Date.now(), entries: await set.load() };
    return cached.entries;
  };
  const signer = async (): Promise<TokenSigner> => {
    const e = signingEntry(await entries(), new Date());
    if (!e) throw new Error('no token signing key is active: run `ca token-key rotate`');
    return custody.signer(e);
  };
  // the JWKS is read fresh for every request of it (its responses are cached by HTTP for 60 s, part of the rotation's
  // window): a copy held here as well would add its age to what verifiers may be missing
  return createTokenHandler({ registry, signer, jwks: async () => jwksOf(await set.load()), config: env, log: (e) => writeStdoutLine(JSON.stringify(e)) });
}

let handle: (event: unknown) => Promise<ProxyResponse>;
try {
  handle = compose();
} catch (e) {
  const initError = (e as Error).message;
  writeStdoutLine(JSON.stringify({ level: 'error', msg: 'token endpoint misconfigured', error: initError }));
  handle = async () => {
    const r = oauthError('server_error', 'the token endpoint is misconfigured');
    return { ...r, isBase64Encoded: false };
  };
}

/** API Gateway proxy integration entry point (HTTP API payload 2.0 or 1.0, REST). Never throws. */
export async function handler(event: unknown): Promise<ProxyResponse> {
  return handle(event);
}
