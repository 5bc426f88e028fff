import { GetItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { TOKEN_JWKS_KEY } from '../../domain/token-claims.js';

/**
 * The token key set the registry table publishes (item TOKEN#JWKS, attribute `jwks`, a JSON string), read with
 * the SDK client for the CLI's local gateway; the Lambda reads the same item with DynamoDbGetItemReader.
 * @throws Error when the item is missing or its `jwks` is not JSON
 */
export async function readTokenKeySet(client: DynamoDBClient, tableName: string): Promise<unknown> {
  const r = await client.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: TOKEN_JWKS_KEY } }, ConsistentRead: true }));
  const raw = r.Item?.jwks?.S;
  if (raw === undefined) throw new Error(`no ${TOKEN_JWKS_KEY} item in table ${tableName}: no token key has been published`);
  return JSON.parse(raw) as unknown;
}
