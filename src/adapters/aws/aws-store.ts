import { APIGatewayClient } from '@aws-sdk/client-api-gateway';
import { ApiGatewayV2Client } from '@aws-sdk/client-apigatewayv2';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { S3Client } from '@aws-sdk/client-s3';
import { SSMClient } from '@aws-sdk/client-ssm';
import { GetCallerIdentityCommand, STSClient } from '@aws-sdk/client-sts';
import type { AuditLog, BundleSink, KeyCustody, Store, TokenKeyCustody, TokenKeySet } from '../../ports.js';
import { storageError, usageError } from '../../domain/errors.js';
import { awsError } from './aws-errors.js';
import { guardStore } from '../../domain/guarded-store.js';
import { ApiGatewayDomains, type DomainRef } from './api-gateway-domains.js';
import type { DomainSetting } from './domain-spec.js';
import { DynamoDbLock } from './dynamodb-lock.js';
import { DynamoDbRegistry } from './dynamodb-registry.js';
import { KmsKeyCustody } from './kms-key-custody.js';
import { DynamoDbTokenKeySet, KmsTokenKeyCustody } from './kms-token-keys.js';
import { S3Crls } from './s3-crls.js';
import { S3Truststore } from './s3-truststore.js';
import { endpointOverridden } from './sdk-config.js';
import { SsmBundleSink } from './ssm-bundle-sink.js';
import { SsmKeyCustody } from './ssm-key-custody.js';
import { validateParameterPrefix } from './ssm-names.js';

/** The `aws` store's settings, as the configuration file gives them. */
export interface AwsStoreSettings {
  region?: string;
  bucket?: string;
  /** object key of the truststore PEM (default `truststore.pem`) */
  truststoreKey?: string;
  table?: string;
  /** SSM path for CA keys (custody `ssm`) and delivered bundles, e.g. `/ca/prod` */
  parameterPrefix?: string;
  keyCustody?: 'ssm' | 'kms';
  /** customer-managed KMS key for SecureString parameters */
  kmsKeyId?: string;
  domains?: DomainSetting[];
  /** SSM String parameter `ca` writes the truststore's object version to on every publication (the stack reads it) */
  truststoreVersionParameter?: string;
}

export interface AwsStoreOptions {
  warn: (message: string) => void;
  /** API Gateway truststore warnings fail the publication */
  strict?: boolean;
  /** check the bucket (exists, versioning enabled) before returning the store (default true) */
  preflight?: boolean;
  /** first wait between API Gateway status polls (tests shorten it) */
  pollIntervalMs?: number;
  /** the lock's lease length (default 60 s; tests shorten it) */
  lockTtlMs?: number;
  /** the retention period behind each record's TTL attribute (default 90 days; see dynamodb-codec.ts) */
  retentionDays?: number;
}

function resolveRegion(s: AwsStoreSettings): string {
  const region = s.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!region) throw usageError('region is not set for the aws store', 'set `region` in the configuration or AWS_REGION');
  return region;
}

function required(value: string | undefined, name: string, what: string): string {
  if (!value) throw usageError(`${name} is not set for the aws store: it names the ${what}`, `set \`${name}\` in the configuration`);
  return value;
}

/** SDK clients with the settings shared by the adapters (retries sized for bulk work). */
export function awsClients(region: string) {
  return {
    s3: new S3Client({
      region,
      // Endpoint overrides (moto, LocalStack) serve buckets by path, not by virtual host.
      forcePathStyle: endpointOverridden('S3'),
      // The SDK's default CRC32 on every put is refused by some S3-compatible servers (aws-facts: S3).
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    }),
    dynamodb: new DynamoDBClient({ region, maxAttempts: 6 }),
    // PutParameter's default throughput is low; adaptive retries pace bulk delivery instead of failing it.
    ssm: new SSMClient({ region, maxAttempts: 10, retryMode: 'adaptive' }),
    kms: new KMSClient({ region, maxAttempts: 6, retryMode: 'adaptive' }),
    apiGateway: new APIGatewayClient({ region }),
    apiGatewayV2: new ApiGatewayV2Client({ region }),
    sts: new STSClient({ region }),
  };
}

/**
 * The `aws` store: registry and lock in DynamoDB, truststore in a versioned S3 bucket published to the
 * configured API Gateway domains, CA keys in SSM (SecureString) or KMS. Every write first checks that the
 * lock is still held.
 * @throws CaError usage naming a missing or invalid setting; storage when the bucket is missing or unversioned
 */
export async function createAwsStore(s: AwsStoreSettings, o: AwsStoreOptions): Promise<Store> {
  const region = resolveRegion(s);
  const table = required(s.table, 'table', 'DynamoDB table of the certificate registry');
  const bucket = required(s.bucket, 'bucket', 'versioned S3 bucket of the truststore');
  const custodyKind = s.keyCustody ?? 'ssm';
  if (custodyKind !== 'ssm' && custodyKind !== 'kms') throw usageError(`keyCustody must be ssm or kms, not ${JSON.stringify(custodyKind)}`);
  const prefix = custodyKind === 'ssm' ? validateParameterPrefix(s.parameterPrefix) : undefined;
  const domains: DomainRef[] = (s.domains ?? []).map((d, i) => {
    if (!d?.name) throw usageError(`domains[${i}] has no name`);
    if (d.type !== 'rest' && d.type !== 'http') throw usageError(`domains[${i}] (${d.name}) must have type rest or http`);
    return { name: d.name, type: d.type };
  });
  const key = s.truststoreKey || 'truststore.pem';
  const c = awsClients(region);

  const custody: KeyCustody =
    custodyKind === 'kms' ? new KmsKeyCustody({ client: c.kms, caName: table }) : new SsmKeyCustody({ client: c.ssm, prefix: prefix!, kmsKeyId: s.kmsKeyId });
  const truststore = new S3Truststore({
    client: c.s3,
    bucket,
    key,
    strict: o.strict,
    warn: o.warn,
    versionParameter: s.truststoreVersionParameter ? { client: c.ssm, name: s.truststoreVersionParameter } : undefined,
    domains: domains.length ? new ApiGatewayDomains({ domains, rest: c.apiGateway, http: c.apiGatewayV2, pollIntervalMs: o.pollIntervalMs }) : undefined,
  });
  if (o.preflight !== false) await truststore.checkBucket();
  const registry = new DynamoDbRegistry({ client: c.dynamodb, tableName: table, retentionDays: o.retentionDays });
  return guardStore({
    name: 'aws',
    custody,
    registry,
    truststore,
    crls: new S3Crls({ client: c.s3, bucket }),
    audit: dynamoDbAuditLog(registry, c.sts),
    lock: new DynamoDbLock({ client: c.dynamodb, tableName: table, ttlMs: o.lockTtlMs }),
    describe: () => `AWS ${region}: table ${table}, truststore ${truststore.uri}, CRLs under s3://${bucket}/crl/, keys in ${custodyKind === 'kms' ? 'KMS' : `SSM ${prefix}`}`,
  });
}

/** The `--deliver ssm` bundle destination. @throws CaError usage when the region or the prefix is missing or invalid */
export function createSsmBundleSink(s: AwsStoreSettings, o: { warn: (m: string) => void }): BundleSink {
  const region = resolveRegion(s);
  return new SsmBundleSink({ client: awsClients(region).ssm, prefix: validateParameterPrefix(s.parameterPrefix), kmsKeyId: s.kmsKeyId, warn: o.warn });
}

/** The audit trail in the registry table (`AUDIT#<seq>` items and the `AUDIT#HEAD` item); the actor from STS. */
function dynamoDbAuditLog(registry: DynamoDbRegistry, sts: STSClient): AuditLog {
  return {
    read: () => registry.auditEvents(),
    head: async () => {
      const h = await registry.auditHead();
      return h && { seq: h.seq, hash: h.hash };
    },
    lastTruststoreVersion: async () => (await registry.auditHead())?.truststoreVersion,
    append: (draft) => registry.appendAudit(draft),
    actor: async () => {
      try {
        const r = await sts.send(new GetCallerIdentityCommand({}));
        if (!r.Arn) throw storageError('STS GetCallerIdentity returned no ARN', 'check the AWS credentials');
        return r.Arn;
      } catch (e) {
        throw awsError(e, 'ask STS for the caller identity of', 'the AWS credentials');
      }
    },
  };
}

/**
 * The aws store's token signing keys: KMS ECC_NIST_P256 keys (whatever custody the CA keys use: a token key must
 * never leave custody) and the key set item `TOKEN#JWKS` of the registry table.
 * @throws CaError usage when the region or the table is missing
 */
export function createAwsTokenKeys(s: AwsStoreSettings): { custody: TokenKeyCustody; set: TokenKeySet } {
  const region = resolveRegion(s);
  const table = required(s.table, 'table', 'DynamoDB table of the certificate registry');
  const c = awsClients(region);
  return { custody: new KmsTokenKeyCustody({ client: c.kms, caName: table }), set: new DynamoDbTokenKeySet({ client: c.dynamodb, tableName: table }) };
}
