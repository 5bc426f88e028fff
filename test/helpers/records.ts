import { randomBytes } from 'node:crypto';
import type { CertificateRecord } from '../../src/ports.js';

/** A random serial as the registry writes them: lowercase hex, no leading zeros. */
export const randomRecordSerial = () => randomBytes(16).toString('hex').replace(/^0+/, '');

/** A client certificate record with random serial, fingerprint and key, for tests of the registry itself. */
export function fakeRecord(over: Partial<CertificateRecord> = {}): CertificateRecord {
  return {
    serial: over.serial ?? randomRecordSerial(),
    kind: 'client',
    clientId: 'alice',
    status: 'active',
    fingerprint: randomBytes(32).toString('hex'),
    subject: 'CN=alice,O=Example Org',
    issuer: 'CN=Example Issuing CA G1,O=Example Org',
    issuerSerial: 'abc123',
    notBefore: '2026-03-01T11:55:00.000Z',
    notAfter: '2027-03-01T12:00:00.000Z',
    keyType: 'ec-p256',
    publicKey: randomBytes(91).toString('base64'),
    keyOrigin: 'generated',
    certificatePem: `-----BEGIN CERTIFICATE-----\n${randomBytes(300).toString('base64')}\n-----END CERTIFICATE-----\n`,
    createdAt: '2026-03-01T12:00:00.000Z',
    ...over,
  };
}
