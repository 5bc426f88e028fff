/**
 * Certificate revocation lists (RFC 5280 section 5), built by src/domain/crl.ts and published by
 * src/domain/crl-publication.ts on a local store at fixed clocks. Judged by independent parsers: the OpenSSL CLI
 * (`crl -verify`, `verify -crl_check`) and Python's cryptography.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { TBSCertList } from '@peculiar/asn1-x509';
import { afterAll, describe, expect, it } from 'vitest';
import { crlFacts, crlTbs } from '../../src/domain/crl.js';
import { publishCrls, refreshAfterRevocation } from '../../src/domain/crl-publication.js';
import { issuerFragments } from '../../src/domain/template.js';
import { issueClient } from '../../src/domain/issuance.js';
import { revoke } from '../../src/domain/revocation.js';
import { retireIntermediate, rotateIntermediate } from '../../src/domain/hierarchy.js';
import { pemBlocks } from '../../src/domain/der.js';
import type { CertificateRecord, CrlPublisher } from '../../src/ports.js';
import { VENV_PYTHON } from '../helpers/moto.js';
import { DAY, after, caState, cleanupAll, makeCa, openssl, opensslOk, writeTemp, type TestCa } from '../helpers/pki.js';

afterAll(cleanupAll);

const HOUR = 60 * 60 * 1000;
const epoch = (d: Date) => String(Math.floor(d.getTime() / 1000));

async function issuing(ca: TestCa): Promise<CertificateRecord> {
  return (await caState(ca)).issuing!;
}

function crlFiles(ca: TestCa, serial: string) {
  const der = readFileSync(join(ca.storeDir, 'crl', `${serial}.crl`));
  const pem = readFileSync(join(ca.storeDir, 'crl', `${serial}.crl.pem`), 'utf8');
  return { der, pem, derPath: join(ca.storeDir, 'crl', `${serial}.crl`), pemPath: join(ca.storeDir, 'crl', `${serial}.crl.pem`) };
}

/** `openssl crl -verify` of a DER CRL against the CA certificate that must have signed it. */
function opensslCrlVerify(ca: TestCa, crlPath: string, signerPem: string): { ok: boolean; out: string } {
  const caFile = writeTemp(ca.dir, `signer-${Math.random().toString(16).slice(2)}.pem`, signerPem);
  const r = openssl(['crl', '-in', crlPath, '-inform', 'DER', '-CAfile', caFile, '-verify', '-noout']);
  return { ok: r.status === 0 && /verify OK/.test(r.stdout + r.stderr), out: r.stdout + r.stderr };
}

/** `openssl verify -crl_check_all -x509_strict` of a client certificate, at `at`, with every published CRL. */
function opensslVerifyWithCrls(ca: TestCa, certPem: string, at: Date): { code: number; out: string } {
  const all = spawnSync('sh', ['-c', `cat "${join(ca.storeDir, 'crl')}"/*.crl.pem`], { encoding: 'utf8' }).stdout;
  const crlFile = writeTemp(ca.dir, `crls-${Math.random().toString(16).slice(2)}.pem`, all);
  const certFile = writeTemp(ca.dir, `leaf-${Math.random().toString(16).slice(2)}.pem`, certPem);
  const r = openssl(['verify', '-x509_strict', '-crl_check_all', '-attime', epoch(at), '-CAfile', ca.store.truststorePath, '-CRLfile', crlFile, certFile]);
  return { code: r.status ?? -1, out: r.stdout + r.stderr };
}

/** Python's cryptography reads the CRL and reports what it holds. */
function pythonCrl(der: Buffer, issuerPem: string): any {
  const script = `
import sys, json, base64
from cryptography import x509
from cryptography.x509.oid import ExtensionOID, CRLEntryExtensionOID
data = json.loads(sys.stdin.read())
crl = x509.load_der_x509_crl(base64.b64decode(data["crl"]))
issuer = x509.load_pem_x509_certificate(data["issuer"].encode())
ski = issuer.extensions.get_extension_for_oid(ExtensionOID.SUBJECT_KEY_IDENTIFIER).value.digest
aki = crl.extensions.get_extension_for_oid(ExtensionOID.AUTHORITY_KEY_IDENTIFIER).value.key_identifier
entries = []
for r in crl:
    try:
        reason = r.extensions.get_extension_for_oid(CRLEntryExtensionOID.CRL_REASON).value.reason.name
    except x509.ExtensionNotFound:
        reason = None
    entries.append({"serial": format(r.serial_number, "x"), "reason": reason, "date": r.revocation_date_utc.isoformat()})
print(json.dumps({
    "version": crl.extensions and 2,
    "crlNumber": crl.extensions.get_extension_for_oid(ExtensionOID.CRL_NUMBER).value.crl_number,
    "akiIsSki": aki == ski,
    "issuerBytesEqual": crl.issuer.public_bytes() == issuer.subject.public_bytes(),
    "signatureValid": crl.is_signature_valid(issuer.public_key()),
    "signatureAlgorithm": crl.signature_algorithm_oid.dotted_string,
    "thisUpdate": crl.last_update_utc.isoformat(),
    "nextUpdate": crl.next_update_utc.isoformat(),
    "entries": entries,
}))
`;
  const r = spawnSync(VENV_PYTHON, ['-c', script], { input: JSON.stringify({ crl: der.toString('base64'), issuer: issuerPem }), encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`python failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

describe('an empty CRL before any revocation', () => {
  it('is valid: OpenSSL parses and verifies it, Python reads AKI and CRL number 1, no entries', async () => {
    const ca = await makeCa();
    const r = await publishCrls(ca.ctx(after(HOUR)));
    const inter = await issuing(ca);
    const root = (await caState(ca)).root!;
    expect(r.crls.map((c) => c.issuerSerial).sort()).toEqual([inter.serial, root.serial].sort());
    expect(r.crls.every((c) => c.action === 'published' && c.crlNumber === 1 && c.revoked.length === 0)).toBe(true);
    const f = crlFiles(ca, inter.serial);
    expect(opensslCrlVerify(ca, f.derPath, inter.certificatePem).ok).toBe(true);
    const text = opensslOk(['crl', '-in', f.pemPath, '-noout', '-text']);
    expect(text).toMatch(/Version 2/);
    expect(text).toMatch(/No Revoked Certificates/);
    const py = pythonCrl(f.der, inter.certificatePem);
    expect(py).toMatchObject({ crlNumber: 1, akiIsSki: true, issuerBytesEqual: true, signatureValid: true, entries: [] });
    expect(py.thisUpdate).toBe('2026-03-01T13:00:00+00:00');
    expect(py.nextUpdate).toBe('2026-03-08T13:00:00+00:00');
    // the PEM file is the DER file, armoured
    expect(pemBlocks(f.pem, 'X509 CRL')[0]!.equals(f.der)).toBe(true);
    // the root's CRL is signed by the root
    expect(opensslCrlVerify(ca, crlFiles(ca, root.serial).derPath, root.certificatePem).ok).toBe(true);
    expect(opensslCrlVerify(ca, crlFiles(ca, root.serial).derPath, inter.certificatePem).ok).toBe(false);
  });
});

describe('revoked certificates on the CRL', () => {
  it('lists every revoked, unexpired certificate of the issuer with its reason; openssl verify -crl_check refuses it and accepts an active one', async () => {
    const ca = await makeCa();
    for (const id of ['gone', 'plain', 'fine']) await issueClient(ca.ctx(after(HOUR)), { clientId: id });
    const gone = (await ca.store.registry.list({ clientId: 'gone' }))[0]!;
    const plain = (await ca.store.registry.list({ clientId: 'plain' }))[0]!;
    const fine = (await ca.store.registry.list({ clientId: 'fine' }))[0]!;
    const revokedAt = after(2 * HOUR);
    await revoke(ca.ctx(revokedAt), { clientId: 'gone', reason: 'keyCompromise' });
    await revoke(ca.ctx(revokedAt), { clientId: 'plain', reason: 'unspecified' });
    const at = after(3 * HOUR);
    const r = await publishCrls(ca.ctx(at), { days: 3 });
    const inter = await issuing(ca);
    const mine = r.crls.find((c) => c.issuerSerial === inter.serial)!;
    expect(mine.revoked.sort()).toEqual([gone.serial, plain.serial].sort());
    const f = crlFiles(ca, inter.serial);
    expect(opensslCrlVerify(ca, f.derPath, inter.certificatePem).ok).toBe(true);

    const py = pythonCrl(f.der, inter.certificatePem);
    expect(py.akiIsSki).toBe(true);
    expect(py.issuerBytesEqual).toBe(true);
    expect(py.signatureValid).toBe(true);
    expect(py.signatureAlgorithm).toBe('1.2.840.10045.4.3.2');
    expect(py.nextUpdate).toBe('2026-03-04T15:00:00+00:00');
    const byserial = Object.fromEntries(py.entries.map((e: any) => [e.serial, e]));
    expect(byserial[gone.serial]).toMatchObject({ reason: 'key_compromise', date: '2026-03-01T14:00:00+00:00' });
    // RFC 5280 5.3.1: no reasonCode for unspecified
    expect(byserial[plain.serial]).toMatchObject({ reason: null });

    const refused = opensslVerifyWithCrls(ca, gone.certificatePem, at);
    expect(refused.code, refused.out).not.toBe(0);
    expect(refused.out).toMatch(/certificate revoked/);
    const accepted = opensslVerifyWithCrls(ca, fine.certificatePem, at);
    expect(accepted.code, accepted.out).toBe(0);
  });

  it('leaves out a revoked certificate once it has expired', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'short', validityDays: 2 });
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'long' });
    await revoke(ca.ctx(after(2 * HOUR)), { clientId: 'short' });
    await revoke(ca.ctx(after(2 * HOUR)), { clientId: 'long' });
    const inter = await issuing(ca);
    const before = (await publishCrls(ca.ctx(after(DAY)))).crls.find((c) => c.issuerSerial === inter.serial)!;
    expect(before.revoked).toHaveLength(2);
    const later = (await publishCrls(ca.ctx(after(3 * DAY)))).crls.find((c) => c.issuerSerial === inter.serial)!;
    const long = (await ca.store.registry.list({ clientId: 'long' }))[0]!;
    expect(later.revoked).toEqual([long.serial]);
    expect(crlFacts(crlFiles(ca, inter.serial).der).serials).toEqual([long.serial]);
  });

  it('signs with an RSA CA key as sha256WithRSAEncryption, which OpenSSL and Python verify', async () => {
    const ca = await makeCa({ policy: { caKeyType: 'rsa-2048' } });
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'x' });
    await revoke(ca.ctx(after(HOUR)), { clientId: 'x', reason: 'superseded' });
    await publishCrls(ca.ctx(after(HOUR)));
    const inter = await issuing(ca);
    const f = crlFiles(ca, inter.serial);
    expect(opensslCrlVerify(ca, f.derPath, inter.certificatePem).ok).toBe(true);
    const py = pythonCrl(f.der, inter.certificatePem);
    expect(py).toMatchObject({ signatureValid: true, signatureAlgorithm: '1.2.840.113549.1.1.11', akiIsSki: true });
    expect(py.entries[0].reason).toBe('superseded');
  });
});

describe('CRL numbers', () => {
  it('increase with every run, per issuer, and are recorded on the issuer record', async () => {
    const ca = await makeCa();
    const inter = await issuing(ca);
    const numbers: number[] = [];
    for (let i = 0; i < 3; i++) {
      await publishCrls(ca.ctx(after((i + 1) * HOUR)));
      numbers.push(crlFacts(crlFiles(ca, inter.serial).der).crlNumber!);
    }
    expect(numbers).toEqual([1, 2, 3]);
    expect((await ca.store.registry.get(inter.serial))!.crlNumber).toBe(3);
  });

  it('never repeat after a crash between recording the number and publishing the CRL', async () => {
    const ca = await makeCa();
    const inter = await issuing(ca);
    await publishCrls(ca.ctx(after(HOUR)), { issuers: [inter.serial] });
    // the process dies after the number's commit, before the CRL reaches the store
    const crashing: CrlPublisher = {
      locations: (n) => ca.store.crls.locations(n),
      current: (n) => ca.store.crls.current(n),
      publish: async () => {
        throw new Error('simulated crash before publishing');
      },
    };
    const ctx = ca.ctx(after(2 * HOUR));
    await expect(publishCrls({ ...ctx, store: { ...ctx.store, crls: crashing } }, { issuers: [inter.serial] })).rejects.toThrow(/simulated crash/);
    expect((await ca.store.registry.get(inter.serial))!.crlNumber).toBe(2);
    expect(crlFacts(crlFiles(ca, inter.serial).der).crlNumber).toBe(1);
    // the re-run publishes, with a number never used before
    await publishCrls(ca.ctx(after(3 * HOUR)), { issuers: [inter.serial] });
    expect(crlFacts(crlFiles(ca, inter.serial).der).crlNumber).toBe(3);
  });
});

describe('which CAs have a CRL', () => {
  it('a superseded intermediate keeps its own CRL; a retired one is listed on the root CRL (cessationOfOperation) and gets none', async () => {
    const ca = await makeCa();
    const g1 = await issuing(ca);
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'a' });
    await rotateIntermediate(ca.ctx(after(DAY)));
    const g2 = await issuing(ca);
    const both = await publishCrls(ca.ctx(after(DAY + HOUR)));
    expect(both.crls.map((c) => c.issuerSerial)).toEqual(expect.arrayContaining([g1.serial, g2.serial]));
    expect(opensslCrlVerify(ca, crlFiles(ca, g1.serial).derPath, g1.certificatePem).ok).toBe(true);
    await retireIntermediate(ca.ctx(after(30 * DAY)), { serial: g1.serial, force: true });
    const root = (await caState(ca)).root!;
    const after30 = await publishCrls(ca.ctx(after(30 * DAY + HOUR)));
    expect(after30.crls.map((c) => c.issuerSerial).sort()).toEqual([g2.serial, root.serial].sort());
    const py = pythonCrl(crlFiles(ca, root.serial).der, root.certificatePem);
    expect(py.entries).toEqual([expect.objectContaining({ serial: g1.serial, reason: 'cessation_of_operation' })]);
  });
});

describe('the revocation refresh', () => {
  it('re-signs the touched issuer, and only stale CRLs when nothing new was revoked', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'a' });
    await publishCrls(ca.ctx(after(HOUR)));
    const inter = await issuing(ca);
    const done = await revoke(ca.ctx(after(2 * HOUR)), { clientId: 'a' });
    const r = await refreshAfterRevocation(ca.ctx(after(2 * HOUR)), { revokedNow: done.revoked, alreadyRevoked: [] });
    expect(r.crls.find((c) => c.issuerSerial === inter.serial)).toMatchObject({ action: 'published', crlNumber: 2, revoked: [done.revoked[0]!.serial] });
    expect(r.crls.find((c) => c.issuerSerial !== inter.serial)).toMatchObject({ action: 'current', crlNumber: 1 });
    // run again with nothing new: every CRL already lists it
    const again = await refreshAfterRevocation(ca.ctx(after(3 * HOUR)), { revokedNow: [], alreadyRevoked: done.revoked });
    expect(again.crls.every((c) => c.action === 'current')).toBe(true);
  });
});

describe('the CRL encoding', () => {
  it('repeats the issuer name byte for byte, writes UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', async () => {
    const ca = await makeCa();
    const inter = await issuing(ca);
    const der = pemBlocks(inter.certificatePem, 'CERTIFICATE')[0]!;
    const tbs = crlTbs({ issuerCertificateDer: der, keyType: 'ec-p256', crlNumber: 7, thisUpdate: new Date('2049-12-31T23:59:59.600Z'), nextUpdate: new Date('2050-01-07T00:00:00Z'), revoked: [{ serial: '8f01', revokedAt: new Date('2049-06-01T00:00:00Z'), reason: 'keyCompromise' }] });
    expect(tbs.includes(issuerFragments(der).name)).toBe(true);
    const utc = Buffer.from([0x17, 13, ...Buffer.from('491231235959Z')]);
    const gen = Buffer.from([0x18, 15, ...Buffer.from('20500107000000Z')]);
    expect(tbs.includes(utc)).toBe(true);
    expect(tbs.includes(gen)).toBe(true);
    // a serial whose top bit is set stays positive: one leading zero octet
    const parsed = AsnConvert.parse(tbs, TBSCertList);
    expect(Buffer.from(parsed.revokedCertificates![0]!.userCertificate).toString('hex')).toBe('008f01');
    expect(parsed.version).toBe(1);
  });
});
