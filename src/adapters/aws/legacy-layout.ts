import { ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { GetParametersCommand } from '@aws-sdk/client-ssm';
import type { LegacyClientItem, LegacyLayout } from '../../domain/import.js';
import { invalidInput, usageError } from '../../domain/errors.js';
import { awsError } from './aws-errors.js';
import { awsClients } from './aws-store.js';
import { validateParameterPrefix } from './ssm-names.js';

export interface LegacyLayoutSettings {
  region: string;
  /** `/<project>/<env>` of the old setup */
  ssmPrefix: string;
  /** the old metadata table (default mtls-clients-metadata) */
  table: string;
  /** the old truststore bucket, read only to compare its truststore.pem with ours */
  bucket?: string;
  truststoreKey?: string;
}

/** Bounds what one import reads: the old table's items (more is refused, not silently cut). */
export const MAX_LEGACY_ITEMS = 100_000;

/** GetParameters takes at most 10 names (aws-facts: SSM). */
const SSM_BATCH = 10;

/** A DynamoDB attribute as text: S and N kept exactly (a decimal serial may not fit a double), others left out. */
function text(v: AttributeValue | undefined): string | undefined {
  if (v?.S !== undefined) return v.S;
  if (v?.N !== undefined) return v.N;
  return undefined;
}

/**
 * Reads the Python/Terraform layout `ca import` adopts: the CA's certificates and keys from SSM, every item of
 * the metadata table, each client's certificate from SSM. Client private keys (`/clients/<id>/private-key`) are
 * never read. Writes nothing.
 * @throws CaError usage on an invalid prefix; storage when AWS refuses a read; invalidInput on too many items
 */
export async function readLegacyLayout(s: LegacyLayoutSettings): Promise<LegacyLayout> {
  const prefix = validateParameterPrefix(s.ssmPrefix);
  if (!s.table) throw usageError('--table is empty: give the old metadata table (default mtls-clients-metadata)');
  const c = awsClients(s.region);
  const values = new Map<string, string>();
  const getParameters = async (names: string[]) => {
    for (let i = 0; i < names.length; i += SSM_BATCH) {
      const batch = names.slice(i, i + SSM_BATCH);
      try {
        const r = await c.ssm.send(new GetParametersCommand({ Names: batch, WithDecryption: true }));
        for (const p of r.Parameters ?? []) if (p.Name && p.Value !== undefined) values.set(p.Name, p.Value);
      } catch (e) {
        throw awsError(e, 'read', `SSM parameters under ${prefix}`);
      }
    }
  };
  const ca = (k: 'root' | 'intermediate') => `${prefix}/ca/${k}`;
  await getParameters(['root', 'intermediate'].flatMap((k) => [`${ca(k as 'root')}/certificate`, `${ca(k as 'root')}/private-key`]));

  const raw: Record<string, AttributeValue>[] = [];
  let start: Record<string, AttributeValue> | undefined;
  do {
    let page;
    try {
      page = await c.dynamodb.send(new ScanCommand({ TableName: s.table, ExclusiveStartKey: start, ConsistentRead: true }));
    } catch (e) {
      throw awsError(e, 'scan', `DynamoDB table ${s.table}`, (name) =>
        name === 'ResourceNotFoundException' ? usageError(`DynamoDB table ${s.table} does not exist`, 'give the old metadata table with --table') : undefined,
      );
    }
    raw.push(...(page.Items ?? []));
    if (raw.length > MAX_LEGACY_ITEMS) throw invalidInput(`table ${s.table} holds more than ${MAX_LEGACY_ITEMS} items`, 'more than one import can adopt at once');
    start = page.LastEvaluatedKey;
  } while (start);

  const items: { attributes: Record<string, string>; clientId?: string }[] = raw.map((it) => {
    const attributes: Record<string, string> = {};
    for (const [k, v] of Object.entries(it)) {
      const t = text(v);
      if (t !== undefined) attributes[k] = t;
    }
    return { attributes, clientId: attributes.client_id };
  });
  // only names SSM accepts are asked for; the domain refuses the item for its malformed client id
  const ids = [...new Set(items.map((i) => i.clientId).filter((id): id is string => !!id && /^[A-Za-z0-9_.-]{1,64}$/.test(id)))];
  await getParameters(ids.map((id) => `${prefix}/clients/${id}/certificate`));

  let truststorePem: string | undefined;
  if (s.bucket) {
    try {
      const r = await c.s3.send(new GetObjectCommand({ Bucket: s.bucket, Key: s.truststoreKey ?? 'truststore.pem' }));
      truststorePem = await r.Body!.transformToString();
    } catch (e) {
      throw awsError(e, 'read', `s3://${s.bucket}/${s.truststoreKey ?? 'truststore.pem'}`);
    }
  }
  const clientItems: LegacyClientItem[] = items.map((i) => {
    const pem = i.clientId ? values.get(`${prefix}/clients/${i.clientId}/certificate`) : undefined;
    return { attributes: i.attributes, ...(pem !== undefined ? { certificatePem: pem } : {}) };
  });
  const material = (k: 'root' | 'intermediate') => ({
    source: ca(k),
    certificatePem: values.get(`${ca(k)}/certificate`),
    privateKeyPem: values.get(`${ca(k)}/private-key`),
  });
  return { prefix, table: s.table, root: material('root'), intermediate: material('intermediate'), items: clientItems, ...(truststorePem !== undefined ? { truststorePem } : {}) };
}
