import 'reflect-metadata';
import { createHash, createPrivateKey, X509Certificate } from 'node:crypto';
import { KeyUsageFlags } from '@peculiar/x509';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { issueClient } from '../../src/domain/issuance.js';
import { rotateIntermediate } from '../../src/domain/hierarchy.js';
import { parseKeyType, KEY_TYPES } from '../../src/domain/keys.js';
import { BACKDATE_MS } from '../../src/domain/policy.js';
import { randomSerial } from '../../src/domain/serial.js';
import type { CertificateRecord, KeyType } from '../../src/ports.js';
import {
  after,
  caState,
  cleanupAll,
  DAY,
  epoch,
  expectCaError,
  expectCaErrorSync,
  makeCa,
  OID,
  openssl,
  opensslOk,
  parseCert,
  T0,
  tempDir,
  writeTemp,
  type ParsedCert,
  type TestCa,
} from '../helpers/pki.js';

afterAll(cleanupAll);

const HOUR = 60 * 60 * 1000;
const ISSUE_AT = after(HOUR);
const ROTATE_AT = after(2 * DAY);
/** when openssl verifies: after the rotation, inside every certificate's validity */
const VERIFY_AT = after(3 * DAY);

const SIGNATURE: Record<KeyType, { oid: string; hash: string; name: RegExp }> = {
  'ec-p256': { oid: OID.ecdsaSha256, hash: 'SHA-256', name: /ecdsa-with-SHA256/ },
  'ec-p384': { oid: OID.ecdsaSha384, hash: 'SHA-384', name: /ecdsa-with-SHA384/ },
  'rsa-2048': { oid: OID.sha256Rsa, hash: 'SHA-256', name: /sha256WithRSAEncryption/ },
  'rsa-3072': { oid: OID.sha256Rsa, hash: 'SHA-256', name: /sha256WithRSAEncryption/ },
  'rsa-4096': { oid: OID.sha256Rsa, hash: 'SHA-256', name: /sha256WithRSAEncryption/ },
};

const CA_KU = KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign;

function nodeKeyDescription(c: ParsedCert): string {
  const k = c.node.publicKey;
  const d = k.asymmetricKeyDetails!;
  return k.asymmetricKeyType === 'ec' ? `ec-${d.namedCurve === 'prime256v1' ? 'p256' : d.namedCurve === 'secp384r1' ? 'p384' : d.namedCurve}` : `rsa-${d.modulusLength}`;
}

/** RFC 7093 section 2 method 1. */
function expectedKeyId(c: ParsedCert): string {
  return createHash('sha256').update(c.spki).digest().subarray(0, 20).toString('hex');
}

function expectCommon(c: ParsedCert): void {
  expect(c.version).toBe(3);
  expect(c.sigOid).toBe(c.tbsSigOid);
  expect(c.ski).toMatch(/^[0-9a-f]{40}$/);
  expect(c.ski).toBe(expectedKeyId(c));
  expect(c.aki).toMatch(/^[0-9a-f]{40}$/);
  // positive INTEGER of 16 octets: no leading zero octet needed, high bit clear
  expect(c.serialBytes.length).toBe(16);
  expect(c.serialBytes[0]! & 0x80).toBe(0);
  expect(c.serialBytes[0]).not.toBe(0);
  expect(c.node.serialNumber.toLowerCase()).toBe(c.serialHex);
  expect(c.pec.serialNumber.toLowerCase()).toBe(c.serialHex);
}

function expectRoot(root: ParsedCert): void {
  expectCommon(root);
  expect(root.node.checkIssued(root.node)).toBe(true);
  expect(root.node.verify(root.node.publicKey)).toBe(true);
  expect(root.node.issuer).toBe(root.node.subject);
  expect(root.basicConstraints).toEqual({ critical: true, ca: true, pathLength: undefined });
  expect(root.keyUsage).toEqual({ critical: true, usages: CA_KU });
  expect(root.extKeyUsage).toBeUndefined();
  expect(root.san).toBeUndefined();
  expect(root.aki).toBe(root.ski);
  expect(root.node.ca).toBe(true);
}

function expectIntermediate(inter: ParsedCert, root: ParsedCert): void {
  expectCommon(inter);
  expect(inter.node.checkIssued(root.node)).toBe(true);
  expect(inter.node.verify(root.node.publicKey)).toBe(true);
  expect(inter.basicConstraints).toEqual({ critical: true, ca: true, pathLength: 0 });
  expect(inter.keyUsage).toEqual({ critical: true, usages: CA_KU });
  expect(inter.extKeyUsage).toBeUndefined();
  expect(inter.san).toBeUndefined();
  expect(inter.aki).toBe(root.ski);
  expect(inter.ski).not.toBe(root.ski);
  expectValidityInside(inter, root);
}

function expectValidityInside(child: ParsedCert, issuer: ParsedCert): void {
  expect(child.pec.notBefore.getTime()).toBeGreaterThanOrEqual(issuer.pec.notBefore.getTime());
  expect(child.pec.notAfter.getTime()).toBeLessThanOrEqual(issuer.pec.notAfter.getTime());
  expect(Date.parse(child.node.validFrom)).toBeGreaterThanOrEqual(Date.parse(issuer.node.validFrom));
  expect(Date.parse(child.node.validTo)).toBeLessThanOrEqual(Date.parse(issuer.node.validTo));
}

function expectClient(c: ParsedCert, issuer: ParsedCert, clientId: string, organization: string, spiffeId?: string): void {
  expectCommon(c);
  expect(c.node.checkIssued(issuer.node)).toBe(true);
  expect(c.node.verify(issuer.node.publicKey)).toBe(true);
  expect(c.node.ca).toBe(false);
  expect(c.basicConstraints).toEqual({ critical: true, ca: false, pathLength: undefined });
  expect(c.keyUsage).toEqual({ critical: true, usages: KeyUsageFlags.digitalSignature });
  expect(c.extKeyUsage?.usages).toEqual(spiffeId ? [OID.serverAuth, OID.clientAuth] : [OID.clientAuth]);
  expect(c.aki).toBe(issuer.ski);
  expect(c.subjectAttrs.filter((a) => a.type === OID.cn).map((a) => a.value)).toEqual([clientId]);
  expect(c.subjectAttrs.filter((a) => a.type === OID.o).map((a) => a.value)).toEqual([organization]);
  expect(c.pec.subjectName.getField('CN')).toEqual([clientId]);
  expect(c.pec.subjectName.getField('O')).toEqual([organization]);
  if (spiffeId) {
    expect(c.san?.names).toEqual([{ type: 'url', value: spiffeId }]);
    expect(c.node.subjectAltName).toBe(`URI:${spiffeId}`);
  } else {
    expect(c.san).toBeUndefined();
    expect(c.node.subjectAltName).toBeUndefined();
  }
  expectValidityInside(c, issuer);
}

function expectRecordMatches(r: CertificateRecord): void {
  const c = parseCert(r.certificatePem);
  expect(r.serial).toMatch(/^[0-9a-f]{32}$/);
  expect(r.serial).toBe(c.serialHex);
  expect(r.fingerprint).toBe(createHash('sha256').update(c.der).digest('hex'));
  expect(r.fingerprint).toBe(c.node.fingerprint256.replace(/:/g, '').toLowerCase());
  expect(r.notBefore).toBe(c.pec.notBefore.toISOString());
  expect(r.notAfter).toBe(c.pec.notAfter.toISOString());
  expect(r.notBefore).toBe(new Date(c.node.validFrom).toISOString());
  expect(r.notAfter).toBe(new Date(c.node.validTo).toISOString());
  expect(Buffer.from(r.publicKey, 'base64').equals(c.node.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
  expect(r.keyType).toBe(nodeKeyDescription(c));
}

interface Built {
  ca: TestCa;
  root: CertificateRecord;
  intermediates: CertificateRecord[];
  clients: CertificateRecord[];
}

async function buildCa(caKeyType: KeyType, clientKeyTypes: KeyType[], rotate: boolean): Promise<Built> {
  const ca = await makeCa({ policy: { caKeyType, organization: 'Acme Test Org', caName: 'Acme' } });
  for (const kt of clientKeyTypes) await issueClient(ca.ctx(ISSUE_AT), { clientId: `client-${kt}`, keyType: kt });
  if (rotate) await rotateIntermediate(ca.ctx(ROTATE_AT));
  const all = await ca.records();
  return {
    ca,
    root: all.find((r) => r.kind === 'root')!,
    intermediates: all.filter((r) => r.kind === 'intermediate'),
    clients: all.filter((r) => r.kind === 'client'),
  };
}

const CLIENT_TYPES: KeyType[] = ['ec-p256', 'ec-p384', 'rsa-2048'];
const MATRIX: { ca: KeyType; clients: KeyType[]; rotate: boolean }[] = [
  { ca: 'ec-p256', clients: CLIENT_TYPES, rotate: true },
  { ca: 'ec-p384', clients: CLIENT_TYPES, rotate: true },
  { ca: 'rsa-2048', clients: CLIENT_TYPES, rotate: true },
  // the slow key sizes once each
  { ca: 'rsa-3072', clients: ['rsa-4096'], rotate: false },
  { ca: 'rsa-4096', clients: ['rsa-3072'], rotate: false },
];

describe.each(MATRIX)('CA key $ca, client keys $clients', ({ ca: caKeyType, clients: clientTypes, rotate }) => {
  let b: Built;
  let root: ParsedCert;
  const parsedInter = (serial: string) => parseCert(b.intermediates.find((i) => i.serial === serial)!.certificatePem);

  beforeAll(async () => {
    b = await buildCa(caKeyType, clientTypes, rotate);
    root = parseCert(b.root.certificatePem);
  });

  it('has the expected records', () => {
    expect(b.intermediates).toHaveLength(rotate ? 2 : 1);
    // after a rotation every client has its original (superseded) and its re-issued (active) certificate
    expect(b.clients).toHaveLength(clientTypes.length * (rotate ? 2 : 1));
    for (const kt of clientTypes) {
      const mine = b.clients.filter((c) => c.clientId === `client-${kt}`);
      expect(mine.filter((c) => c.status === 'active')).toHaveLength(1);
      for (const c of mine) expect(c.keyType).toBe(kt);
    }
  });

  it('root: v3, self-signed, critical cA=true without pathLen, keyUsage exactly keyCertSign+cRLSign, SKI, AKI = own SKI', () => {
    expectRoot(root);
    expect(b.root.keyType).toBe(caKeyType);
    expect(nodeKeyDescription(root)).toBe(caKeyType);
    expect(root.pec.subjectName.getField('CN')).toEqual(['Acme Root CA']);
    expect(root.pec.subjectName.getField('O')).toEqual(['Acme Test Org']);
  });

  it('intermediates: cA=true pathLen 0, keyUsage exactly keyCertSign+cRLSign, AKI = root SKI, validity inside the root', () => {
    for (const r of b.intermediates) {
      const inter = parseCert(r.certificatePem);
      expectIntermediate(inter, root);
      expect(nodeKeyDescription(inter)).toBe(caKeyType);
      expect(r.issuerSerial).toBe(b.root.serial);
    }
    if (rotate) {
      const [g1, g2] = b.intermediates.map((r) => parseCert(r.certificatePem).pec.subjectName.getField('CN')[0]).sort();
      expect([g1, g2]).toEqual(['Acme Issuing CA G1', 'Acme Issuing CA G2']);
    }
  });

  it('clients: critical cA=false, keyUsage exactly digitalSignature, EKU exactly [clientAuth], AKI = issuer SKI, CN = id, O = organization', () => {
    for (const r of b.clients) {
      const c = parseCert(r.certificatePem);
      expectClient(c, parsedInter(r.issuerSerial!), r.clientId, 'Acme Test Org');
      expect(nodeKeyDescription(c)).toBe(r.keyType);
    }
  });

  it(`every certificate is signed with ${SIGNATURE[caKeyType].name.source}`, () => {
    const expected = SIGNATURE[caKeyType];
    for (const r of [b.root, ...b.intermediates, ...b.clients]) {
      const c = parseCert(r.certificatePem);
      expect(c.sigOid).toBe(expected.oid);
      expect(c.tbsSigOid).toBe(expected.oid);
      expect(c.pec.signatureAlgorithm.hash.name).toBe(expected.hash);
    }
  });

  it('registry records match their certificates (serial, SHA-256 fingerprint, validity, public key)', () => {
    for (const r of [b.root, ...b.intermediates, ...b.clients]) expectRecordMatches(r);
  });

  it('client validity starts 5 minutes before issuance and lasts the policy days', () => {
    for (const r of b.clients) {
      const issuedAt = Date.parse(r.createdAt);
      expect([ISSUE_AT.getTime(), ROTATE_AT.getTime()]).toContain(issuedAt);
      expect(Date.parse(r.notBefore)).toBe(issuedAt - BACKDATE_MS);
      expect(Date.parse(r.notAfter)).toBe(issuedAt + 365 * DAY);
    }
  });

  it('openssl verify -x509_strict -purpose sslclient accepts every client with its chain', () => {
    const dir = tempDir('verify');
    const rootPath = writeTemp(dir, 'root.pem', b.root.certificatePem);
    for (const r of b.clients) {
      const inter = b.intermediates.find((i) => i.serial === r.issuerSerial)!;
      const interPath = writeTemp(dir, `inter-${inter.serial}.pem`, inter.certificatePem);
      const clientPath = writeTemp(dir, `client-${r.serial}.pem`, r.certificatePem);
      const res = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-attime', epoch(VERIFY_AT), '-CAfile', rootPath, '-untrusted', interPath, clientPath]);
      expect(res.stderr).toBe('');
      expect(res.status).toBe(0);
      expect(res.stdout.trim()).toBe(`${clientPath}: OK`);
    }
  });

  it('openssl x509 -text shows the expected extensions', () => {
    const text = (pem: string) => opensslOk(['x509', '-noout', '-text'], pem);
    const rt = text(b.root.certificatePem);
    expect(rt).toMatch(/Version: 3 \(0x2\)/);
    expect(rt).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE\n/);
    expect(rt).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
    expect(rt).toMatch(/X509v3 Subject Key Identifier:/);
    expect(rt).toMatch(/X509v3 Authority Key Identifier:/);
    expect(rt).toMatch(SIGNATURE[caKeyType].name);
    for (const i of b.intermediates) {
      const it_ = text(i.certificatePem);
      expect(it_).toMatch(/X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0\n/);
      expect(it_).toMatch(/X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
      expect(it_).not.toMatch(/Extended Key Usage/);
    }
    for (const c of b.clients) {
      const ct = text(c.certificatePem);
      expect(ct).toMatch(/Version: 3 \(0x2\)/);
      expect(ct).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE\n/);
      expect(ct).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
      expect(ct).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Client Authentication\n/);
      expect(ct).not.toMatch(/Subject Alternative Name/);
      expect(ct).toMatch(new RegExp(`Subject: O\\s?=\\s?Acme Test Org, CN\\s?=\\s?${c.clientId}\\n`));
    }
  });
});

describe('certificates after a rotation', () => {
  it('re-issued clients chain to the new intermediate and keep their key', async () => {
    const b = await buildCa('ec-p256', ['ec-p256'], true);
    const state = await caState(b.ca);
    const [oldC, newC] = b.clients.sort((x, y) => (x.status === 'superseded' ? -1 : y.status === 'superseded' ? 1 : 0));
    expect(oldC!.issuerSerial).toBe(state.previous[0]!.serial);
    expect(newC!.issuerSerial).toBe(state.issuing!.serial);
    const o = parseCert(oldC!.certificatePem);
    const n = parseCert(newC!.certificatePem);
    expect(n.aki).toBe(parseCert(state.issuing!.certificatePem).ski);
    expect(o.aki).toBe(parseCert(state.previous[0]!.certificatePem).ski);
    expect(n.spki.equals(o.spki)).toBe(true);
    expect(n.ski).toBe(o.ski);
  });
});

describe('validity clamping', () => {
  it('an intermediate never outlives the root', async () => {
    const ca = await makeCa({ policy: { rootValidityDays: 100, intermediateValidityDays: 1095 } });
    const s = await caState(ca);
    const root = parseCert(s.root!.certificatePem);
    const inter = parseCert(s.issuing!.certificatePem);
    expect(inter.pec.notAfter.getTime()).toBe(root.pec.notAfter.getTime());
    expect(s.issuing!.notAfter).toBe(s.root!.notAfter);
    expect(root.pec.notAfter.getTime()).toBe(T0.getTime() + 100 * DAY);
  });

  it('a client issued when the intermediate has 10 days left ends exactly when its issuer does', async () => {
    const ca = await makeCa({ policy: { intermediateValidityDays: 30 } });
    const s = await caState(ca);
    const r = (await issueClient(ca.ctx(after(20 * DAY)), { clientId: 'late' })).record!;
    const c = parseCert(r.certificatePem);
    const issuer = parseCert(s.issuing!.certificatePem);
    expect(c.pec.notAfter.getTime()).toBe(issuer.pec.notAfter.getTime());
    expect(r.notAfter).toBe(s.issuing!.notAfter);
    expect(c.pec.notBefore.getTime()).toBe(after(20 * DAY).getTime() - BACKDATE_MS);
    expectClient(c, issuer, 'late', 'Example Org');
  });

  it('--days longer than the issuer has left is clamped to the issuer', async () => {
    const ca = await makeCa();
    const s = await caState(ca);
    const r = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'long', validityDays: 5000 })).record!;
    expect(r.notAfter).toBe(s.issuing!.notAfter);
    expect(parseCert(r.certificatePem).pec.notAfter.toISOString()).toBe(s.issuing!.notAfter);
  });

  it('a client is never valid before its issuer (issued at the instant of bootstrap)', async () => {
    const ca = await makeCa();
    const s = await caState(ca);
    const r = (await issueClient(ca.ctx(T0), { clientId: 'early' })).record!;
    expect(Date.parse(r.notBefore)).toBeGreaterThanOrEqual(Date.parse(s.issuing!.notBefore));
    expectValidityInside(parseCert(r.certificatePem), parseCert(s.issuing!.certificatePem));
  });

  // Regression: the "too soon" check compared the clamped, second-truncated notAfter with an unrounded now, so
  // `--days 1` at any instant with milliseconds was refused as "the issuing intermediate expires … too soon".
  it('a 1-day client is issued whatever the milliseconds of the clock', async () => {
    const ca = await makeCa();
    const at = new Date(ISSUE_AT.getTime() + 500);
    const r = (await issueClient(ca.ctx(at), { clientId: 'one-day', validityDays: 1 })).record!;
    expect(r.notAfter).toBe(new Date(ISSUE_AT.getTime() + DAY).toISOString());
    expect(parseCert(r.certificatePem).pec.notAfter.toISOString()).toBe(r.notAfter);
  });

  it('refuses a client when the intermediate has less than a day left (invalidInput), recording nothing', async () => {
    const ca = await makeCa({ policy: { intermediateValidityDays: 30 } });
    const s = await caState(ca);
    const before = ca.registryBytes();
    const at = new Date(Date.parse(s.issuing!.notAfter) - 12 * HOUR);
    await expectCaError(issueClient(ca.ctx(at), { clientId: 'too-late' }), 'invalidInput', /expires/);
    expect(ca.registryBytes().equals(before)).toBe(true);
  });
});

describe('SPIFFE X.509-SVID clients', () => {
  let ca: TestCa;
  let r: CertificateRecord;
  beforeAll(async () => {
    ca = await makeCa({ policy: { spiffeTrustDomain: 'prod.example.org' } });
    r = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'svc-a' })).record!;
  });

  it('carry exactly one SAN, the URI spiffe://<td>/client/<id>, and EKU [serverAuth, clientAuth]', async () => {
    const s = await caState(ca);
    const c = parseCert(r.certificatePem);
    expectClient(c, parseCert(s.issuing!.certificatePem), 'svc-a', 'Example Org', 'spiffe://prod.example.org/client/svc-a');
    expect(c.extensionOids.filter((o) => o === OID.subjectAltName)).toHaveLength(1);
    expect(r.spiffeId).toBe('spiffe://prod.example.org/client/svc-a');
    // a leaf SVID must not carry keyCertSign/cRLSign
    expect(c.keyUsage!.usages & (KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)).toBe(0);
  });

  it('pass openssl verify -purpose sslclient and show the URI SAN', async () => {
    const s = await caState(ca);
    const dir = tempDir('spiffe');
    const res = openssl([
      'verify', '-x509_strict', '-purpose', 'sslclient', '-attime', epoch(VERIFY_AT),
      '-CAfile', writeTemp(dir, 'root.pem', s.root!.certificatePem),
      '-untrusted', writeTemp(dir, 'inter.pem', s.issuing!.certificatePem),
      writeTemp(dir, 'client.pem', r.certificatePem),
    ]);
    expect(res.status, res.stderr).toBe(0);
    const text = opensslOk(['x509', '-noout', '-text'], r.certificatePem);
    expect(text).toMatch(/X509v3 Subject Alternative Name: \s+URI:spiffe:\/\/prod\.example\.org\/client\/svc-a\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \s+TLS Web Server Authentication, TLS Web Client Authentication\n/);
  });

  it('the delivered bundle holds the certificate and the chain (intermediate then root)', async () => {
    const s = await caState(ca);
    const files = ca.bundle('svc-a');
    expect(files.cert).toBe(r.certificatePem);
    expect(files.chain).toBe(s.issuing!.certificatePem.trim() + '\n' + s.root!.certificatePem.trim() + '\n');
    expect(files.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(new X509Certificate(files.cert).checkPrivateKey(createPrivateKey(files.key!))).toBe(true);
  });
});

describe('serials', () => {
  it('randomSerial: 2,000 serials, all 32 lowercase hex chars, positive 16-octet INTEGERs, unique', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 2000; i++) {
      const s = randomSerial();
      expect(s).toMatch(/^[0-9a-f]{32}$/);
      const first = parseInt(s.slice(0, 2), 16);
      expect(first).toBeGreaterThanOrEqual(0x10);
      expect(first).toBeLessThan(0x80);
      seen.add(s);
    }
    expect(seen.size).toBe(2000);
  });
});

describe('parseKeyType', () => {
  it('accepts the supported key types, case-insensitively', () => {
    for (const k of KEY_TYPES) expect(parseKeyType(k)).toBe(k);
    expect(parseKeyType(' EC-P256 ')).toBe('ec-p256');
  });

  it.each(['ed25519', 'Ed448'])('refuses %s with the API Gateway explanation', (v) => {
    const e = expectCaErrorSync(() => parseKeyType(v), 'invalidInput', /API Gateway mutual TLS accepts only RSA \(2048\+\) and ECDSA/);
    expect(e.hint).toMatch(/ec-p256/);
  });

  it.each(['rsa-1024', 'rsa1024', 'RSA-1536'])('refuses %s as too weak for API Gateway', (v) => {
    const e = expectCaErrorSync(() => parseKeyType(v), 'invalidInput', /API Gateway .*at least 2048 bits/);
    expect(e.hint).toMatch(/rsa-2048/);
  });

  it('refuses an unknown key type', () => {
    expectCaErrorSync(() => parseKeyType('dsa'), 'invalidInput', /unknown key type dsa/);
  });
});
