import { describe, it, expect, beforeAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { adoptCa, decimalToHexSerial, hexToDecimalSerial, planClientImport, type LegacyLayout } from '../../src/domain/import.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import type { CertificateRecord } from '../../src/ports.js';
import { legacyPki, type LegacyPki } from '../helpers/legacy-pki.js';

const NOW = new Date('2026-06-01T00:00:00Z');
let pki: LegacyPki;
let alice: ReturnType<LegacyPki['client']>;
let bob: ReturnType<LegacyPki['client']>;
let mallory: ReturnType<LegacyPki['client']>;

beforeAll(() => {
  pki = legacyPki();
  alice = pki.client('alice', '123456789012345678901234567890');
  bob = pki.client('bob', '4242');
  mallory = pki.client('mallory', '777', { issuer: pki.foreign });
}, 60_000);

function layout(items: LegacyLayout['items'] = []): LegacyLayout {
  return {
    prefix: '/apigw-mtls/sandbox',
    table: 'mtls-clients-metadata',
    root: { source: '/apigw-mtls/sandbox/ca/root', certificatePem: pki.root.certificatePem, privateKeyPem: pki.root.privateKeyPem },
    intermediate: { source: '/apigw-mtls/sandbox/ca/intermediate', certificatePem: pki.intermediate.certificatePem, privateKeyPem: pki.intermediate.privateKeyPem },
    items,
  };
}

const item = (c: { serialNumber: string; certificatePem?: string }, clientId: string, status = 'active', extra: Record<string, string> = {}) => ({
  attributes: { serialNumber: c.serialNumber, client_id: clientId, clientName: clientId, status, issuedAt: '2026-01-01T00:00:00Z', expiry: '2027-01-01T00:00:00Z', ttl: '1798761600', ...extra },
  ...(c.certificatePem ? { certificatePem: c.certificatePem } : {}),
});

describe('serials', () => {
  it('converts the old decimal serials to ours and back, refusing what is not a positive serial', () => {
    expect(decimalToHexSerial('4242')).toBe('1092');
    expect(decimalToHexSerial('123456789012345678901234567890')).toBe(new X509Certificate(alice.certificatePem).serialNumber.toLowerCase().replace(/^0+/, ''));
    expect(hexToDecimalSerial('1092')).toBe('4242');
    for (const bad of ['', '0', '-5', '12a', '1'.repeat(50), '1e5']) expect(decimalToHexSerial(bad)).toBeUndefined();
  });
});

describe('adoptCa', () => {
  it('records the old root and intermediate with a CA profile read from their certificates and keys', () => {
    const { root, intermediate, profile } = adoptCa(layout([item(alice, 'alice')]), { ...DEFAULT_POLICY, spiffeTrustDomain: 'example.org' }, NOW);
    expect(root.record).toMatchObject({ kind: 'root', clientId: 'root', serial: '3e9', status: 'active', keyType: 'rsa-2048', keyOrigin: 'ca', importedFrom: '/apigw-mtls/sandbox/ca/root/certificate' });
    expect(intermediate.record).toMatchObject({ kind: 'intermediate', serial: '3ea', issuerSerial: '3e9', keyType: 'rsa-2048', importedFrom: '/apigw-mtls/sandbox/ca/intermediate/certificate' });
    expect(profile).toEqual({ ...DEFAULT_POLICY, organization: 'Apigw Mtls', caName: 'apigw-mtls', caKeyType: 'rsa-2048', clientKeyType: 'rsa-2048', rootValidityDays: 3650, intermediateValidityDays: 1825, clientValidityDays: 365 });
    expect(root.record.profile).toEqual(profile);
    expect('keyRef' in root.record).toBe(false);
  });

  it('refuses a CA whose private key is not the key of its certificate', () => {
    const l = layout();
    l.intermediate.privateKeyPem = pki.root.privateKeyPem;
    expect(() => adoptCa(l, DEFAULT_POLICY, NOW)).toThrow(/ca\/intermediate\/private-key is not the key of/);
  });

  it('refuses an intermediate the root did not sign, and a missing key', () => {
    const l = layout();
    l.intermediate = { ...l.intermediate, certificatePem: pki.foreign.certificatePem, privateKeyPem: pki.foreign.privateKeyPem };
    expect(() => adoptCa(l, DEFAULT_POLICY, NOW)).toThrow(/is not signed by/);
    const m = layout();
    delete m.root.privateKeyPem;
    expect(() => adoptCa(m, DEFAULT_POLICY, NOW)).toThrow(/root CA private key .* is missing/);
  });
});

describe('planClientImport', () => {
  const inter = () => adoptCa(layout(), DEFAULT_POLICY, NOW).intermediate.record;

  it('adopts active and revoked items with their certificates, and refuses every other kind of item with its reason', () => {
    const items = [
      item(alice, 'alice'),
      item(bob, 'bob', 'revoked', { revokedAt: '2026-03-01T00:00:00Z' }),
      { attributes: { serialNumber: 'not-a-number', client_id: 'x', status: 'active' } },
      item(pki.client('carol', '5001'), 'carol', 'suspended'),
      item(mallory, 'mallory'),
      item({ serialNumber: '6001' }, 'dave'),
      item({ serialNumber: '6002', certificatePem: alice.certificatePem }, 'alice'),
      item(pki.client('erin', '7001'), 'someone-else'),
    ];
    const p = planClientImport(layout(items), inter(), new Map(), NOW);
    expect(p.adopt.map((r) => [r.clientId, r.status, r.serial])).toEqual([
      ['alice', 'active', decimalToHexSerial(alice.serialNumber)],
      ['bob', 'revoked', '1092'],
    ]);
    expect(p.adopt[0]).toMatchObject({ kind: 'client', issuerSerial: '3ea', keyType: 'rsa-2048', keyOrigin: 'csr', importedFrom: `mtls-clients-metadata#${alice.serialNumber}`, validityDays: 365 });
    expect(p.adopt[0]!.fingerprint).toBe(new X509Certificate(alice.certificatePem).fingerprint256.replace(/:/g, '').toLowerCase());
    expect(p.adopt[1]).toMatchObject({ revokedAt: '2026-03-01T00:00:00.000Z', revocationReason: 'unspecified' });
    expect(p.refused.map((r) => [r.serialNumber, r.reason])).toEqual([
      ['not-a-number', 'malformed_item'],
      ['5001', 'unknown_status'],
      ['777', 'does_not_chain'],
      ['6001', 'certificate_missing'],
      ['6002', 'certificate_mismatch'],
      ['7001', 'client_id_mismatch'],
    ]);
  });

  it('counts an item an earlier import recorded as imported, even once SSM holds its re-issued certificate', () => {
    const first = planClientImport(layout([item(alice, 'alice')]), inter(), new Map(), NOW);
    const existing = new Map([[first.adopt[0]!.serial, { ...first.adopt[0]!, status: 'superseded' as const }]]);
    const again = planClientImport(layout([{ ...item(alice, 'alice'), certificatePem: bob.certificatePem }]), inter(), existing, NOW);
    expect(again).toEqual({ adopt: [], already: [{ clientId: 'alice', serial: first.adopt[0]!.serial }], refused: [] });
  });

  it('refuses a certificate whose CN is not the client id', () => {
    const erin = pki.client('erin', '7002');
    const p = planClientImport(layout([{ ...item(erin, 'erin'), attributes: { ...item(erin, 'erin').attributes, clientName: 'Erin Ltd' } }]), inter(), new Map(), NOW);
    expect(p.refused.map((r) => r.reason)).toEqual(['client_id_mismatch']);
  });

  it('treats an item already recorded with the same certificate as imported, and another certificate under its serial as a conflict', () => {
    const first = planClientImport(layout([item(alice, 'alice'), item(bob, 'bob')]), inter(), new Map(), NOW);
    const existing = new Map<string, CertificateRecord>([
      [first.adopt[0]!.serial, first.adopt[0]!],
      // a certificate of this store's own that happens to have the serial
      [first.adopt[1]!.serial, { ...first.adopt[1]!, fingerprint: '00'.repeat(32), importedFrom: undefined }],
    ]);
    const again = planClientImport(layout([item(alice, 'alice'), item(bob, 'bob')]), inter(), existing, NOW);
    expect(again.adopt).toEqual([]);
    expect(again.already).toEqual([{ clientId: 'alice', serial: first.adopt[0]!.serial }]);
    expect(again.refused.map((r) => [r.clientId, r.reason])).toEqual([['bob', 'conflict']]);
  });
});
