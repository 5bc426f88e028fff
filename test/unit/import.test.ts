import { describe, it, expect, beforeAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { adoptCa, decimalToHexSerial, hexToDecimalSerial, importLegacy, planClientImport, type LegacyLayout } from '../../src/domain/import.js';
import { rotateIntermediate } from '../../src/domain/hierarchy.js';
import { issueClient } from '../../src/domain/issuance.js';
import { cleanupAll, makeCa } from '../helpers/pki.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import type { CertificateRecord } from '../../src/ports.js';
import { legacyPki, type LegacyPki } from '../helpers/legacy-pki.js';

// openssl dates its certificates from the real clock: the tests' instant is a minute after it
const NOW = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000);
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

describe('importLegacy on a local store', () => {
  it('dry run writes nothing; the import records the CA and its clients, keeps the CA keys encrypted, and a re-run adds nothing', async () => {
    const ca = await makeCa({ bootstrap: false });
    try {
      const l = layout([item(alice, 'alice'), item(bob, 'bob', 'revoked'), item(mallory, 'mallory')]);
      const dry = await importLegacy(ca.ctx(NOW), l, { dryRun: true });
      expect(dry).toMatchObject({ dryRun: true, ca: 'would-create', refused: [{ clientId: 'mallory', reason: 'does_not_chain' }] });
      expect(dry.adopted.map((r) => r.clientId)).toEqual(['alice', 'bob']);
      expect(await ca.records()).toEqual([]);
      expect(existsSync(join(ca.storeDir, 'keys')) ? readdirSync(join(ca.storeDir, 'keys')) : []).toEqual([]);
      expect(existsSync(ca.store.truststorePath)).toBe(false);

      const r = await importLegacy(ca.ctx(NOW), l);
      expect(r).toMatchObject({ dryRun: false, ca: 'created', truststore: { changed: true } });
      expect((await ca.records()).map((x) => `${x.kind}:${x.clientId}:${x.status}`).sort()).toEqual(['client:alice:active', 'client:bob:revoked', 'intermediate:intermediate:active', 'root:root:active']);
      expect(ca.truststoreFile().replace(/\s+/g, '')).toBe((pki.intermediate.certificatePem + pki.root.certificatePem).replace(/\s+/g, ''));
      const keys = readdirSync(join(ca.storeDir, 'keys')).sort();
      expect(keys).toEqual([expect.stringMatching(/^intermediate-imported-[0-9a-f]{12}\.key\.pem$/), expect.stringMatching(/^root-imported-[0-9a-f]{12}\.key\.pem$/)]);
      for (const k of keys) {
        expect(statSync(join(ca.storeDir, 'keys', k)).mode & 0o777).toBe(0o600);
        expect(readFileSync(join(ca.storeDir, 'keys', k), 'utf8')).toContain('BEGIN ENCRYPTED PRIVATE KEY');
      }
      const everything = readdirSync(ca.dir, { recursive: true, encoding: 'utf8' }).filter((f) => statSync(join(ca.dir, f)).isFile()).map((f) => readFileSync(join(ca.dir, f), 'utf8')).join('\n');
      for (const c of [alice, bob, mallory]) expect(everything).not.toContain(c.privateKeyPem.split('\n')[1]);

      const again = await importLegacy(ca.ctx(NOW), l);
      expect(again).toMatchObject({ ca: 'already', adopted: [], truststore: { changed: false } });
      expect(again.already.map((a) => a.clientId)).toEqual(['alice', 'bob']);
      expect(await ca.records()).toHaveLength(4);
    } finally {
      cleanupAll();
    }
  });

  it('a rotation re-issues an imported client for its own key in our profile, keeping where it came from', async () => {
    const ca = await makeCa({ bootstrap: false });
    try {
      await importLegacy(ca.ctx(NOW), layout([item(alice, 'alice')]));
      const r = await rotateIntermediate(ca.ctx(NOW));
      expect(r.reissued.map((x) => x.clientId)).toEqual(['alice']);
      const next = r.reissued[0]!.record!;
      expect(next).toMatchObject({ importedFrom: `mtls-clients-metadata#${alice.serialNumber}`, keyOrigin: 'csr' });
      expect(next.publicKey).toBe(new X509Certificate(alice.certificatePem).publicKey.export({ type: 'spki', format: 'der' }).toString('base64'));
      expect(ca.bundle('alice').key).toBeUndefined();
    } finally {
      cleanupAll();
    }
  });

  it('refuses an item for a client that already has an active certificate issued here', async () => {
    const ca = await makeCa({ bootstrap: false });
    try {
      await importLegacy(ca.ctx(NOW), layout([item(alice, 'alice')]));
      await issueClient(ca.ctx(NOW), { clientId: 'dave' });
      const r = await importLegacy(ca.ctx(NOW), layout([item(alice, 'alice'), item(pki.client('dave', '8001'), 'dave')]));
      expect(r.adopted).toEqual([]);
      expect(r.refused).toEqual([expect.objectContaining({ clientId: 'dave', reason: 'conflict', serialNumber: '8001' })]);
    } finally {
      cleanupAll();
    }
  });

  it('refuses a client whose serial is the serial of an imported CA certificate (the registry keys by serial)', async () => {
    const ca = await makeCa({ bootstrap: false });
    try {
      const twin = pki.client('twin', pki.intermediate.serialNumber);
      const r = await importLegacy(ca.ctx(NOW), layout([item(alice, 'alice'), item(twin, 'twin')]));
      expect(r.adopted.map((x) => x.clientId)).toEqual(['alice']);
      expect(r.refused).toEqual([expect.objectContaining({ clientId: 'twin', reason: 'conflict', serialNumber: '1002' })]);
      expect(await ca.records()).toHaveLength(3);
    } finally {
      cleanupAll();
    }
  });

  it('refuses a store that holds another CA, before writing anything', async () => {
    const ca = await makeCa({ at: NOW });
    try {
      const before = await ca.records();
      await expect(importLegacy(ca.ctx(NOW), layout([item(alice, 'alice')]))).rejects.toMatchObject({ code: 'conflict' });
      expect(await ca.records()).toEqual(before);
    } finally {
      cleanupAll();
    }
  });
});
