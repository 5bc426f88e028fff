import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCaState } from '../../src/domain/ca-state.js';
import { retireIntermediate, rotateIntermediate, syncTruststore } from '../../src/domain/hierarchy.js';
import { issueClient } from '../../src/domain/issuance.js';
import { buildTruststore, MAX_CHAIN_DEPTH, sameTruststore, verifyTruststore } from '../../src/domain/truststore.js';
import type { CertificateRecord } from '../../src/ports.js';
import { after, cleanupAll, DAY, makeCa, opensslOk, parseCert, pemCerts, T0, tempDir, type TestCa } from '../helpers/pki.js';

afterAll(cleanupAll);

const HOUR = 60 * 60 * 1000;

/** Serials of a bundle's certificates, in order. */
const serialsOf = (pem: string) => pemCerts(pem).map((c) => parseCert(c).serialHex);

describe('truststore of a CA built by the domain', () => {
  let ca: TestCa;
  let root: CertificateRecord;
  let g1: CertificateRecord;

  beforeAll(async () => {
    ca = await makeCa();
    const s = await loadCaState(ca.store.registry);
    root = s.root!;
    g1 = s.issuing!;
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'c1' });
  });

  it('after bootstrap: intermediate then root, published, and verifies clean', async () => {
    const pem = buildTruststore(await loadCaState(ca.store.registry));
    expect(serialsOf(pem)).toEqual([g1.serial, root.serial]);
    expect(ca.truststoreFile()).toBe(pem);
    expect((await ca.store.truststore.current())?.pem).toBe(pem);
    const r = verifyTruststore(pem, after(HOUR));
    expect(r.violations).toEqual([]);
    expect(r.warnings).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.entries.map((e) => [e.role, e.depth, e.serial])).toEqual([
      ['intermediate', 2, g1.serial],
      ['root', 1, root.serial],
    ]);
    expect(r.entries[0]!.fingerprint).toBe(g1.fingerprint);
    expect(r.entries[1]!.notAfter).toBe(root.notAfter);
  });

  it('after rotation: issuing intermediate first, previous next, root last; after the grace period the previous one is gone', async () => {
    const rot = await rotateIntermediate(ca.ctx(after(DAY)));
    const g2 = rot.intermediate!;
    const pem = buildTruststore(await loadCaState(ca.store.registry));
    expect(serialsOf(pem)).toEqual([g2.serial, g1.serial, root.serial]);
    expect(ca.truststoreFile()).toBe(pem);
    const r = verifyTruststore(pem, after(DAY + HOUR));
    expect(r.violations).toEqual([]);
    expect(r.entries.map((e) => [e.role, e.depth])).toEqual([
      ['intermediate', 2],
      ['intermediate', 2],
      ['root', 1],
    ]);

    const synced = await syncTruststore(ca.ctx(after(9 * DAY)));
    expect(synced.retired).toEqual([g1.serial]);
    expect(serialsOf(ca.truststoreFile())).toEqual([g2.serial, root.serial]);
    expect(verifyTruststore(ca.truststoreFile(), after(9 * DAY)).ok).toBe(true);
  });

  it('retire-intermediate --force removes a previous intermediate at once', async () => {
    const c = await makeCa();
    await issueClient(c.ctx(after(HOUR)), { clientId: 'c1' });
    const rot = await rotateIntermediate(c.ctx(after(DAY)));
    await retireIntermediate(c.ctx(after(DAY)), { force: true });
    const s = await loadCaState(c.store.registry);
    expect(serialsOf(c.truststoreFile())).toEqual([rot.intermediate!.serial, s.root!.serial]);
  });

  describe('violations', () => {
    it('empty input', () => {
      const r = verifyTruststore('', T0);
      expect(r.ok).toBe(false);
      expect(r.violations).toEqual(['no certificates found in the truststore']);
      expect(verifyTruststore('   \n', T0).ok).toBe(false);
    });

    it('garbage text without PEM blocks', () => {
      const r = verifyTruststore('hello, I am not a certificate', T0);
      expect(r.ok).toBe(false);
      expect(r.violations).toHaveLength(1);
    });

    it('a PEM block with broken base64', () => {
      const r = verifyTruststore('-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n', T0);
      expect(r.ok).toBe(false);
      expect(r.violations[0]).toMatch(/malformed PEM/);
    });

    it('a PEM block that is not a certificate', () => {
      const junk = `-----BEGIN CERTIFICATE-----\n${Buffer.from('not DER at all').toString('base64')}\n-----END CERTIFICATE-----\n`;
      const r = verifyTruststore(junk + root.certificatePem, after(HOUR));
      expect(r.ok).toBe(false);
      expect(r.violations).toEqual(['certificate #1: not a parseable X.509 certificate']);
    });

    it('a duplicate certificate', () => {
      const r = verifyTruststore(g1.certificatePem + g1.certificatePem + root.certificatePem, after(HOUR));
      expect(r.ok).toBe(false);
      expect(r.violations).toHaveLength(1);
      expect(r.violations[0]).toMatch(/#2 .* duplicates #1/);
    });

    it('a missing root (intermediate alone)', () => {
      const r = verifyTruststore(g1.certificatePem, after(HOUR));
      expect(r.ok).toBe(false);
      expect(r.violations).toHaveLength(1);
      expect(r.violations[0]).toMatch(/chain incomplete/);
      expect(r.entries[0]!.depth).toBe(0);
    });

    it('a leaf (non-CA) certificate in the bundle', async () => {
      const leaf = (await ca.store.registry.list({ kind: 'client' }))[0]!;
      const r = verifyTruststore(g1.certificatePem + leaf.certificatePem + root.certificatePem, after(DAY + HOUR));
      expect(r.ok).toBe(false);
      expect(r.violations).toHaveLength(1);
      expect(r.violations[0]).toMatch(/#2 .*is not a CA certificate/);
      expect(r.entries[1]!.role).toBe('not-a-ca');
    });

    it('an expired CA (clock past its notAfter)', () => {
      const at = new Date(Date.parse(g1.notAfter) + 1000);
      const r = verifyTruststore(g1.certificatePem + root.certificatePem, at);
      expect(r.ok).toBe(false);
      expect(r.violations).toEqual([expect.stringMatching(/^#1 .* expired on /)]);
      // exactly at notAfter is already too late
      expect(verifyTruststore(g1.certificatePem + root.certificatePem, new Date(g1.notAfter)).ok).toBe(false);
    });

    it('a CA that is not yet valid', () => {
      const r = verifyTruststore(g1.certificatePem + root.certificatePem, after(-DAY));
      expect(r.ok).toBe(false);
      expect(r.violations).toHaveLength(2);
      for (const v of r.violations) expect(v).toMatch(/is not valid before/);
    });
  });

  it('warns about a CA expiring within 30 days, and the bundle stays ok', () => {
    const at = new Date(Date.parse(g1.notAfter) - 10 * DAY);
    const r = verifyTruststore(g1.certificatePem + root.certificatePem, at);
    expect(r.ok).toBe(true);
    expect(r.warnings).toEqual([expect.stringMatching(/^#1 .* expires in 10 days/)]);
    expect(verifyTruststore(g1.certificatePem + root.certificatePem, new Date(Date.parse(g1.notAfter) - 31 * DAY)).warnings).toEqual([]);
    expect(verifyTruststore(g1.certificatePem + root.certificatePem, at, 5).warnings).toEqual([]);
  });
});

describe('truststores made by openssl', () => {
  let dir: string;
  let cfg: string;
  let n = 0;
  const now = () => new Date(Date.now() + 60_000);

  beforeAll(() => {
    dir = tempDir('truststore-openssl');
    cfg = join(dir, 'ca.cnf');
    writeFileSync(
      cfg,
      [
        '[req]',
        'distinguished_name = dn',
        'prompt = no',
        '[dn]',
        '[v3ca]',
        'basicConstraints = critical,CA:TRUE',
        'keyUsage = critical,keyCertSign,cRLSign',
        'subjectKeyIdentifier = hash',
        'authorityKeyIdentifier = keyid',
        '',
      ].join('\n'),
    );
  });

  interface Made {
    cert: string;
    certPath: string;
    keyPath: string;
  }

  function selfSignedCa(newkey: string[], digest: string[] = []): Made {
    n++;
    const keyPath = join(dir, `ca${n}.key`);
    const certPath = join(dir, `ca${n}.pem`);
    opensslOk(['req', '-x509', '-config', cfg, '-extensions', 'v3ca', ...newkey, ...digest, '-nodes', '-keyout', keyPath, '-subj', `/CN=Test Root ${n}`, '-days', '30', '-out', certPath]);
    return { cert: readFileSync(certPath, 'utf8'), certPath, keyPath };
  }

  function subCa(parent: Made, name: string): Made {
    n++;
    const keyPath = join(dir, `sub${n}.key`);
    const csrPath = join(dir, `sub${n}.csr`);
    const certPath = join(dir, `sub${n}.pem`);
    opensslOk(['req', '-new', '-config', cfg, '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-subj', `/CN=${name}`, '-out', csrPath]);
    opensslOk(['x509', '-req', '-in', csrPath, '-CA', parent.certPath, '-CAkey', parent.keyPath, '-set_serial', String(1000 + n), '-days', '20', '-sha256', '-extfile', cfg, '-extensions', 'v3ca', '-out', certPath]);
    return { cert: readFileSync(certPath, 'utf8'), certPath, keyPath };
  }

  const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];

  it('a foreign chain of 4 CA levels is accepted (the API Gateway maximum)', () => {
    expect(MAX_CHAIN_DEPTH).toBe(4);
    const root = selfSignedCa(P256);
    const i1 = subCa(root, 'Level 1');
    const i2 = subCa(i1, 'Level 2');
    const i3 = subCa(i2, 'Level 3');
    const r = verifyTruststore(i3.cert + i2.cert + i1.cert + root.cert, now());
    expect(r.violations).toEqual([]);
    expect(r.entries.map((e) => e.depth)).toEqual([4, 3, 2, 1]);
  });

  it('a chain of 5 CA levels is refused', () => {
    const root = selfSignedCa(P256);
    let cur = root;
    const chain = [root.cert];
    for (let i = 1; i <= 4; i++) {
      cur = subCa(cur, `Deep ${i}`);
      chain.unshift(cur.cert);
    }
    const r = verifyTruststore(chain.join(''), now());
    expect(r.ok).toBe(false);
    expect(r.entries.map((e) => e.depth)).toEqual([5, 4, 3, 2, 1]);
    expect(r.violations).toEqual([expect.stringMatching(/^#1 .*chain of 5 CA certificates, API Gateway allows at most 4/)]);
  });

  it('a SHA-1 signed CA is refused', () => {
    const ca = selfSignedCa(['-newkey', 'rsa:2048'], ['-sha1']);
    expect(opensslOk(['x509', '-noout', '-text', '-in', ca.certPath])).toMatch(/sha1WithRSAEncryption/);
    const r = verifyTruststore(ca.cert, now());
    expect(r.ok).toBe(false);
    expect(r.violations).toEqual([expect.stringMatching(/sha1WithRSAEncryption, which API Gateway does not accept/)]);
  });

  it('an RSA-1024 CA is refused', () => {
    const ca = selfSignedCa(['-newkey', 'rsa:1024'], ['-sha256']);
    const r = verifyTruststore(ca.cert, now());
    expect(r.ok).toBe(false);
    expect(r.violations).toEqual([expect.stringMatching(/RSA key of 1024 bits \(at least 2048 required\)/)]);
  });

  it('an Ed25519 CA is refused (signature and key)', () => {
    const ca = selfSignedCa(['-newkey', 'ed25519']);
    const r = verifyTruststore(ca.cert, now());
    expect(r.ok).toBe(false);
    expect(r.violations).toEqual([expect.stringMatching(/signed with Ed25519/), expect.stringMatching(/ed25519 key \(only RSA and ECDSA are accepted\)/)]);
  });

  it('an RSA-PSS signed CA is refused', () => {
    const ca = selfSignedCa(['-newkey', 'rsa:2048'], ['-sigopt', 'rsa_padding_mode:pss']);
    const r = verifyTruststore(ca.cert, now());
    expect(r.ok).toBe(false);
    expect(r.violations.some((v) => /RSASSA-PSS/.test(v))).toBe(true);
  });
});

describe('sameTruststore', () => {
  let a: string;
  let b: string;
  beforeAll(async () => {
    const ca = await makeCa();
    const s = await loadCaState(ca.store.registry);
    a = s.issuing!.certificatePem;
    b = s.root!.certificatePem;
  });

  it('compares the certificates, not the text: line wrapping, CRLF, blank lines and text between blocks do not matter', () => {
    const rewrap = (pem: string) => {
      const body = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
      return `-----BEGIN CERTIFICATE-----\r\n${body.match(/.{1,76}/g)!.join('\r\n')}\r\n-----END CERTIFICATE-----\r\n`;
    };
    expect(sameTruststore(a + b, a + b)).toBe(true);
    expect(sameTruststore(a + b, `# issuing\n${rewrap(a)}\n\n# root\n${rewrap(b)}`)).toBe(true);
  });

  it('is sensitive to order and to the set of certificates', () => {
    expect(sameTruststore(a + b, b + a)).toBe(false);
    expect(sameTruststore(a + b, b)).toBe(false);
    expect(sameTruststore(a + b, a + b + b)).toBe(false);
    expect(sameTruststore('', '')).toBe(true);
  });
});
