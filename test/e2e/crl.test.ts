/**
 * `ca crl` and the CRL refresh of `ca revoke`, on the real binary and a local store: what a relying party reads
 * (Node's TLS stack in a real handshake, given the CRLs through its `crl` option), the JSON contract, the dry
 * run, and a failure between recording the CRL number and publishing the CRL.
 */
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { beforeAll, describe, expect, it } from 'vitest';
import { ca, expectError, fileDigest, openssl, tempDir } from '../helpers/cli.js';

/** A TLS server that requires a client certificate and checks it against the truststore and the CRLs. */
async function handshake(o: { truststore: string; crls: string[]; server: { cert: string; key: string }; client: { cert: string; key: string } }): Promise<string> {
  const srv = tls.createServer({ ...o.server, ca: o.truststore, crl: o.crls, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (s) => s.end('hello'));
  let serverError = '';
  srv.on('tlsClientError', (e) => (serverError = (e as NodeJS.ErrnoException).code ?? e.message));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  try {
    const got = await new Promise<string>((resolve) => {
      const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: o.server.cert, ...o.client });
      const timer = setTimeout(() => (sock.destroy(), resolve('timeout')), 10_000);
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('end', () => (clearTimeout(timer), resolve(data === 'hello' ? 'accepted' : 'closed without data')));
      sock.on('error', (e) => (clearTimeout(timer), resolve(`rejected: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
    });
    // the server's own view, when it refused (TLS 1.3 reports the client's refusal after the handshake)
    return got === 'accepted' ? got : `${got}${serverError ? ` (server: ${serverError})` : ''}`;
  } finally {
    await new Promise((r) => srv.close(r));
  }
}

describe('CRLs of a local store', () => {
  const dir = tempDir('ca-crl-');
  const read = (...p: string[]) => readFileSync(join(dir, ...p), 'utf8');
  const crlDir = join(dir, 'pki', 'crl');
  const crlPems = () => readdirSync(crlDir).filter((f) => f.endsWith('.crl.pem')).map((f) => read('pki', 'crl', f));
  const client = (id: string) => ({ cert: read('bundles', id, `${id}.crt`), key: read('bundles', id, `${id}.key`) });
  let server: { cert: string; key: string };

  beforeAll(() => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.crt', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], dir);
    server = { cert: read('server.crt'), key: read('server.key') };
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    for (const id of ['acme', 'other']) expect(ca(dir, ['issue-client', id]).code).toBe(0);
  });

  it('a dry run says what would be signed and writes nothing', () => {
    const r = ca(dir, ['crl', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({ dryRun: true, days: 7, files: [] });
    expect(doc.crls).toHaveLength(2);
    expect(doc.crls.every((c: any) => c.action === 'published' && c.crlNumber === 1)).toBe(true);
    expect(fileDigest(crlDir)).toBe('absent');
  });

  it('ca crl before any revocation writes valid empty CRLs (DER and PEM) for the root and the intermediate', () => {
    const r = ca(dir, ['crl', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.files).toHaveLength(4);
    for (const c of doc.crls) {
      expect(c.revoked).toEqual([]);
      const parsed = openssl(['crl', '-in', c.files[0], '-inform', 'DER', '-noout', '-text']);
      expect(parsed.code, parsed.out).toBe(0);
      expect(parsed.out).toMatch(/No Revoked Certificates/);
      expect(readFileSync(c.files[1], 'utf8')).toMatch(/^-----BEGIN X509 CRL-----\n/);
    }
    // the empty CRLs refuse nobody: OpenSSL checking the whole chain accepts a client
    writeFileSync(join(dir, 'empty.pem'), crlPems().join(''));
    const v = openssl(['verify', '-x509_strict', '-crl_check_all', '-CAfile', join(dir, 'pki', 'truststore.pem'), '-CRLfile', join(dir, 'empty.pem'), join(dir, 'bundles', 'acme', 'acme.crt')]);
    expect(v.code, v.out).toBe(0);
  });

  it('after ca revoke, Node\'s TLS stack given the CRLs refuses the revoked client and accepts another', async () => {
    const dry = ca(dir, ['revoke', 'acme', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    // the dry run names the CRLs it would re-sign (the issuer's; the root's is current) and writes nothing
    expect(dry.json()).toMatchObject({ dryRun: true, files: [], warnings: [] });
    expect(dry.json().crls.map((c: any) => c.action).sort()).toEqual(['current', 'published']);
    expect(dry.json().crls.find((c: any) => c.action === 'published').crlNumber).toBe(2);
    const r = ca(dir, ['revoke', 'acme', '--reason', 'keyCompromise', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    const issuing = doc.crls.find((c: any) => c.action === 'published');
    expect(issuing).toMatchObject({ crlNumber: 2, revoked: [doc.revoked[0].serial] });
    expect(doc.files).toEqual(issuing.files);
    const truststore = read('pki', 'truststore.pem');
    expect(await handshake({ truststore, crls: crlPems(), server, client: client('other') })).toBe('accepted');
    expect(await handshake({ truststore, crls: crlPems(), server, client: client('acme') })).toMatch(/rejected|closed/);
    // without the CRLs the same handshake succeeds: the refusal is the CRL's doing
    expect(await handshake({ truststore, crls: [], server, client: client('acme') })).toBe('accepted');
    writeFileSync(join(dir, 'all.pem'), crlPems().join(''));
    const refused = openssl(['verify', '-x509_strict', '-crl_check', '-CAfile', join(dir, 'pki', 'truststore.pem'), '-CRLfile', join(dir, 'all.pem'), join(dir, 'bundles', 'acme', 'acme.crt')]);
    expect(refused.code).not.toBe(0);
    expect(refused.out).toMatch(/certificate revoked/);
    const accepted = openssl(['verify', '-x509_strict', '-crl_check', '-CAfile', join(dir, 'pki', 'truststore.pem'), '-CRLfile', join(dir, 'all.pem'), join(dir, 'bundles', 'other', 'other.crt')]);
    expect(accepted.code, accepted.out).toBe(0);
  });

  it('a failure between recording the CRL number and publishing leaves a number skipped, never repeated; the re-run publishes', () => {
    const serial = ca(dir, ['crl', '--dry-run', '--json']).json().crls[0].issuerSerial as string;
    const pemPath = join(crlDir, `${serial}.crl.pem`);
    const before = fileDigest(join(crlDir, `${serial}.crl`));
    const number = (p: string) => Number(/CRL Number:\s*\n?\s*(\d+)/.exec(openssl(['crl', '-in', p, '-noout', '-text']).out)![1]);
    const published = number(pemPath);
    // the PEM file's place is taken by a directory: the write after the number's commit fails
    rmSync(pemPath);
    mkdirSync(pemPath);
    writeFileSync(join(pemPath, 'x'), 'x');
    const failed = ca(dir, ['crl']);
    expectError(failed, 6, /failed to write .*\.crl\.pem/);
    rmSync(pemPath, { recursive: true });
    expect(fileDigest(join(crlDir, `${serial}.crl`))).not.toBe(before);
    const again = ca(dir, ['crl', '--json']);
    expect(again.code, again.stderr).toBe(0);
    const now = again.json().crls.find((c: any) => c.issuerSerial === serial).crlNumber;
    // the failed run used published+1 (its DER copy may be out); the re-run uses the next one
    expect(now).toBe(published + 2);
    expect(number(pemPath)).toBe(now);
  });

  it('revoke again with nothing new leaves current CRLs alone; --no-crl skips them', () => {
    const r = ca(dir, ['revoke', 'acme', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.revoked).toEqual([]);
    expect(doc.files).toEqual([]);
    expect(doc.crls.every((c: any) => c.action === 'current')).toBe(true);
    const skip = ca(dir, ['revoke', 'other', '--no-crl', '--yes', '--json']);
    expect(skip.code, skip.stderr).toBe(0);
    expect(skip.json().crls).toEqual([]);
    // the CRL does not list `other` yet; a plain revoke re-run repairs it
    const repair = ca(dir, ['revoke', 'other', '--yes', '--json']);
    expect(repair.code, repair.stderr).toBe(0);
    const fixed = repair.json().crls.find((c: any) => c.action === 'published');
    expect(fixed.revoked).toContain(repair.json().alreadyRevoked[0].serial);
  });

  it('a revoke whose CRLs cannot be signed (no passphrase) is still in force: exit 0 and a warning; ca crl then lists it', () => {
    expect(ca(dir, ['issue-client', 'late']).code).toBe(0);
    const r = ca(dir, ['revoke', 'late', '--yes', '--json'], { CA_PASSPHRASE: undefined });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.revoked).toHaveLength(1);
    expect(doc.crls).toEqual([]);
    expect(doc.files).toEqual([]);
    expect(doc.warnings).toEqual([expect.stringMatching(/CRLs were not re-signed: CA key passphrase needed/)]);
    expect(r.stderr).toMatch(/^warning: the CRLs were not re-signed/m);
    const fixed = ca(dir, ['crl', '--json']);
    expect(fixed.code, fixed.stderr).toBe(0);
    expect(fixed.json().crls.flatMap((c: any) => c.revoked)).toContain(doc.revoked[0].serial);
  });

  it('refuses a bad --days value as a usage error', () => {
    expectError(ca(dir, ['crl', '--days', '0']), 2, /--days must be a whole number from 1 to 366/);
    expectError(ca(dir, ['crl'], { CA_CRL_DAYS: 'soon' }), 3, /crlDays must be a whole number/);
  });
});

describe('ca status and the CRLs', () => {
  it('once CRLs are in use, a trusted CA without a current CRL (a new intermediate, a deleted file) is a warning that --check fails on', () => {
    const dir = tempDir('ca-crl-status-');
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    const crlWarnings = (r: { json(): { warnings: string[] } }) => r.json().warnings.filter((w) => /CRL/.test(w));
    // a CA that never published a CRL is not asked for one (API Gateway needs none)
    expect(crlWarnings(ca(dir, ['status', '--json']))).toEqual([]);
    expect(ca(dir, ['crl']).code).toBe(0);
    expect(crlWarnings(ca(dir, ['status', '--json']))).toEqual([]);
    expect(ca(dir, ['rotate-intermediate']).code).toBe(0);
    const after = ca(dir, ['status', '--json']);
    expect(crlWarnings(after)).toEqual([expect.stringMatching(/^no CRL published for .* run `ca crl`$/)]);
    expect(ca(dir, ['status', '--check']).code).toBe(7);
    expect(ca(dir, ['crl']).code).toBe(0);
    expect(crlWarnings(ca(dir, ['status', '--json']))).toEqual([]);
    // a CRL removed by hand is noticed too
    const issuing = ca(dir, ['status', '--json']).json().intermediates[0].serial;
    rmSync(join(dir, 'pki', 'crl', `${issuing}.crl`));
    expect(crlWarnings(ca(dir, ['status', '--json']))).toHaveLength(1);
  });
});
