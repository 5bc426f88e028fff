import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';
import { CreateTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { CreateBucketCommand, PutBucketVersioningCommand, S3Client } from '@aws-sdk/client-s3';
import { awsClients } from '../../src/adapters/aws/aws-store.js';

export const REGION = 'us-east-1';

/**
 * Points this test file's AWS SDK clients at the shared moto server with dummy credentials. Vitest runs each
 * file in its own process, so the variables never leak into another file (or the machine).
 */
export function useMoto(): { endpoint: string; clients: ReturnType<typeof awsClients> } {
  const endpoint = inject('motoEndpoint');
  process.env.AWS_ENDPOINT_URL = endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  process.env.AWS_REGION = REGION;
  delete process.env.AWS_PROFILE;
  delete process.env.AWS_SESSION_TOKEN;
  return { endpoint, clients: awsClients(REGION) };
}

/** A name no other test file uses (buckets: lowercase, dns-like). */
export function unique(prefix: string): string {
  return `${prefix}-${randomBytes(5).toString('hex')}`;
}

export async function createTable(client: DynamoDBClient, name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  );
}

export async function createBucket(client: S3Client, name: string, versioned = true): Promise<void> {
  await client.send(new CreateBucketCommand({ Bucket: name }));
  if (versioned) await client.send(new PutBucketVersioningCommand({ Bucket: name, VersioningConfiguration: { Status: 'Enabled' } }));
}

/**
 * The environment that points the real `ca` binary at moto: the AWS store on `bucket` and `table`, a fresh SSM
 * prefix, test credentials; `extra` adds or overrides (a per-service endpoint through a proxy, the custody).
 */
export function cliEnvFor(endpoint: string, bucket: string, table: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    CA_STORE: 'aws',
    CA_AWS_REGION: REGION,
    CA_AWS_BUCKET: bucket,
    CA_AWS_TABLE: table,
    CA_AWS_PARAMETER_PREFIX: `/${unique('ca')}`,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: REGION,
    ...extra,
  };
}
