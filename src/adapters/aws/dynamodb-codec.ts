/**
 * How a CertificateRecord is stored as a DynamoDB item (schema in README.md beside this file), with no AWS
 * SDK import: shared by DynamoDbRegistry (SDK client) and DynamoDbGetItemReader (the authorizer's signed
 * GetItem), so both read exactly the same records.
 */
import type { CertificateRecord } from '../../ports.js';

/** The part of a DynamoDB AttributeValue this schema uses: every record field is a string. */
export interface StringAttribute {
  S?: string;
}

/** Every CertificateRecord field, each stored as its own string attribute. */
export const RECORD_FIELDS = [
  'serial', 'kind', 'clientId', 'status', 'fingerprint', 'subject', 'issuer', 'issuerSerial', 'notBefore', 'notAfter',
  'keyType', 'publicKey', 'keyOrigin', 'keyRef', 'spiffeId', 'certificatePem', 'createdAt', 'supersededBy', 'supersededAt',
  'graceUntil', 'revokedAt', 'revocationReason', 'retiredAt', 'rotatedFrom', 'rotationCompletedAt',
] as const satisfies readonly (keyof CertificateRecord)[];
type Unlisted = Exclude<keyof CertificateRecord, (typeof RECORD_FIELDS)[number]>;
const everyFieldListed: [Unlisted] extends [never] ? true : never = true;
void everyFieldListed;

/** Partition key of a certificate's item. */
export const certKey = (serial: string) => `CERT#${serial}`;

/** The item that stores a record: `pk` plus one string attribute per defined field. */
export function recordToItem(r: CertificateRecord): Record<string, { S: string }> {
  const item: Record<string, { S: string }> = { pk: { S: certKey(r.serial) } };
  for (const f of RECORD_FIELDS) {
    const v = r[f];
    if (v !== undefined) item[f] = { S: v };
  }
  return item;
}

/** The record an item stores: the string attributes named by RECORD_FIELDS; anything else is ignored. */
export function itemToRecord(item: Readonly<Record<string, StringAttribute | undefined>>): CertificateRecord {
  const r: Record<string, string> = {};
  for (const f of RECORD_FIELDS) {
    const v = item[f]?.S;
    if (v !== undefined) r[f] = v;
  }
  return r as unknown as CertificateRecord;
}
