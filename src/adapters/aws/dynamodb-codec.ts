/**
 * How a CertificateRecord is stored as a DynamoDB item (schema in README.md beside this file), with no AWS
 * SDK import: shared by DynamoDbRegistry (SDK client) and DynamoDbGetItemReader (the authorizer's signed
 * GetItem), so both read exactly the same records.
 */
import type { CertificateRecord } from '../../ports.js';

/** The part of a DynamoDB AttributeValue this schema uses: strings, and numbers for the numeric fields. */
export interface StringAttribute {
  S?: string;
  N?: string;
}

/** Every string CertificateRecord field, each stored as its own string attribute. */
export const RECORD_FIELDS = [
  'serial', 'kind', 'clientId', 'status', 'fingerprint', 'subject', 'issuer', 'issuerSerial', 'notBefore', 'notAfter',
  'keyType', 'publicKey', 'keyOrigin', 'keyRef', 'spiffeId', 'certificatePem', 'createdAt', 'supersededBy', 'supersededAt',
  'graceUntil', 'revokedAt', 'revocationReason', 'retiredAt', 'rotatedFrom', 'rotationCompletedAt',
  'importedFrom', 'crlDistributionPoint',
] as const satisfies readonly (keyof CertificateRecord)[];
/** Numeric fields, stored as number attributes. */
export const NUMBER_FIELDS = ['validityDays', 'crlNumber'] as const satisfies readonly (keyof CertificateRecord)[];
/** Structured fields (the root's CA profile, a client's scopes and audiences), stored as a JSON string: read back whole, never queried. */
export const JSON_FIELDS = ['profile', 'scopes', 'audiences'] as const satisfies readonly (keyof CertificateRecord)[];
type Unlisted = Exclude<keyof CertificateRecord, (typeof RECORD_FIELDS)[number] | (typeof NUMBER_FIELDS)[number] | (typeof JSON_FIELDS)[number]>;
const everyFieldListed: [Unlisted] extends [never] ? true : never = true;
void everyFieldListed;

/** Partition key of a certificate's item. */
export const certKey = (serial: string) => `CERT#${serial}`;

/**
 * The table's TTL attribute (README.md beside this file): epoch seconds after which DynamoDB may delete the item,
 * the end of the record's retention period (domain/retention.ts, decided by the registry that writes it), rounded
 * up so that it never comes early. Only on records that are ever cleaned up (superseded or revoked client
 * certificates); DynamoDB deletes lazily (often days later), so nothing relies on the deletion: the authorizer
 * refuses such a record by itself. Not a record field: reading ignores it.
 */
export const TTL_ATTRIBUTE = 'expiresAt';

/**
 * The item that stores a record: `pk` plus one attribute per defined field, and the TTL attribute when the
 * record's retention ends (`expiresAt`).
 */
export function recordToItem(r: CertificateRecord, expiresAt?: Date): Record<string, { S: string } | { N: string }> {
  const item: Record<string, { S: string } | { N: string }> = { pk: { S: certKey(r.serial) } };
  if (expiresAt) item[TTL_ATTRIBUTE] = { N: String(Math.ceil(expiresAt.getTime() / 1000)) };
  for (const f of RECORD_FIELDS) {
    const v = r[f];
    if (v !== undefined) item[f] = { S: v };
  }
  for (const f of NUMBER_FIELDS) if (r[f] !== undefined) item[f] = { N: String(r[f]) };
  for (const f of JSON_FIELDS) if (r[f] !== undefined) item[f] = { S: JSON.stringify(r[f]) };
  return item;
}

/** The record an item stores: the string attributes named by RECORD_FIELDS; anything else is ignored. */
export function itemToRecord(item: Readonly<Record<string, StringAttribute | undefined>>): CertificateRecord {
  const r: Record<string, unknown> = {};
  for (const f of RECORD_FIELDS) {
    const v = item[f]?.S;
    if (v !== undefined) r[f] = v;
  }
  for (const f of NUMBER_FIELDS) if (item[f]?.N !== undefined) r[f] = Number(item[f]!.N);
  for (const f of JSON_FIELDS) if (item[f]?.S !== undefined) r[f] = JSON.parse(item[f]!.S!);
  return r as unknown as CertificateRecord;
}
