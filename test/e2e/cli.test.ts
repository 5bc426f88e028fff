import { describe, it, expect, beforeAll } from 'vitest';
import { createPublicKey, X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, readdirSync, realpathSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { ca, caWithReadOnly, expectError, fileDigest, openssl, readOnlyMethod, tempDir, PASSPHRASE, REPO } from '../helpers/cli.js';

const mode = (p: string) => statSync(p).mode & 0o777;
const spki = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' }).toString('hex');

describe('ca end to end on the embedded store', () => {
  const dir = tempDir();
  const registry = join(dir, 'pki', 'registry.json');
  let acmeSerial = '';

  beforeAll(() => {
    // a client's own key and CSRs, made with openssl as a partner would
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'partner.key'], dir);
    openssl(['req', '-new', '-key', 'partner.key', '-subj', '/CN=ignored/O=Partner', '-out', 'partner.csr'], dir);
    openssl(['genrsa', '-out', 'weak.key', '1024'], dir);
    openssl(['req', '-new', '-key', 'weak.key', '-subj', '/CN=weak', '-out', 'weak.csr'], dir);
    openssl(['req', '-new', '-key', 'partner.key', '-subj', '/CN=evil', '-addext', 'basicConstraints=critical,CA:TRUE', '-out', 'ca-request.csr'], dir);
    // a CSR whose signature no longer matches: one bit of the subject CN flipped
    const csr = readFileSync(join(dir, 'partner.csr'), 'utf8');
    const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const at = der.indexOf(Buffer.from('ignored'));
    der[at] ^= 0x01;
    writeFileSync(join(dir, 'tampered.csr'), `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE REQUEST-----\n`);
    writeFileSync(join(dir, 'garbage.csr'), '-----BEGIN CERTIFICATE REQUEST-----\nnot base64 at all!!\n-----END CERTIFICATE REQUEST-----\n');
  });

  it('refuses every command before bootstrap, and creates nothing', () => {
    const fresh = tempDir();
    expectError(ca(fresh, ['issue-client', 'acme']), 4, /no CA in this store yet/);
    expectError(ca(fresh, ['list']), 4, /no CA/);
    expectError(ca(fresh, ['rotate-intermediate']), 4, /no CA/);
    expect(existsSync(join(fresh, 'pki'))).toBe(false);
    expect(existsSync(join(fresh, 'bundles'))).toBe(false);
  });

  it('bootstrap creates root, intermediate, encrypted 0600 keys and the truststore', () => {
    const r = ca(dir, ['bootstrap', '--org', 'Acme Corp', '--ca-name', 'Acme', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out).toMatchObject({ dryRun: false, action: 'created' });
    // files written: the truststore, by absolute path
    expect(out.files).toEqual([join(realpathSync(dir), 'pki', 'truststore.pem')]);
    expect(out.root.subject).toBe('CN=Acme Root CA, O=Acme Corp');
    expect(out.intermediate.subject).toBe('CN=Acme Issuing CA G1, O=Acme Corp');
    expect(out.intermediate.issuerSerial).toBe(out.root.serial);
    expect(out.root.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(out.truststore.version).toBe('1');
    const keys = join(dir, 'pki', 'keys');
    for (const f of readdirSync(keys)) {
      expect(mode(join(keys, f))).toBe(0o600);
      expect(readFileSync(join(keys, f), 'utf8')).toMatch(/BEGIN ENCRYPTED PRIVATE KEY/);
    }
    const ts = readFileSync(join(dir, 'pki', 'truststore.pem'), 'utf8');
    expect(ts.match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
    // intermediate first, then the root
    expect(new X509Certificate(ts.split(/(?=-----BEGIN)/)[0]!).subject).toMatch(/Issuing CA G1/);
    expect(r.stdout + r.stderr).not.toMatch(/PRIVATE KEY/);
  });

  it('bootstrap again is a conflict and changes nothing', () => {
    const before = fileDigest(registry);
    expectError(ca(dir, ['bootstrap']), 5, /a CA already exists/);
    expect(fileDigest(registry)).toBe(before);
  });

  it('issue-client generates a key, writes a bundle OpenSSL verifies strictly, and records it', () => {
    const r = ca(dir, ['issue-client', 'acme', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    acmeSerial = out.serial;
    expect(out).toMatchObject({ action: 'issued', clientId: 'acme', status: 'active', keyOrigin: 'generated', subject: 'CN=acme, O=Acme Corp' });
    expect(out.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(out.fingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(new Date(out.notBefore).toISOString()).toBe(out.notBefore);
    expect(out.files.map((p: string) => p.slice(join(realpathSync(dir), 'bundles', 'acme').length + 1)).sort()).toEqual(['acme.crt', 'acme.key', 'chain.pem']);
    const b = join(dir, 'bundles', 'acme');
    expect(mode(join(b, 'acme.key'))).toBe(0o600);
    expect(mode(b)).toBe(0o700);
    const v = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'pki', 'truststore.pem'), join(b, 'acme.crt')]);
    expect(v.out).toMatch(/: OK/);
    expect(v.code).toBe(0);
    // the bundle's chain: intermediate then root
    const v2 = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(b, 'chain.pem'), join(b, 'acme.crt')]);
    expect(v2.code).toBe(0);
    expect(r.stdout + r.stderr).not.toMatch(/PRIVATE KEY/);
    // the tool keeps no copy of the client's key
    expect(readFileSync(registry, 'utf8')).not.toMatch(/PRIVATE KEY/);
    const inspect = ca(dir, ['inspect', 'acme', '--json']).json();
    expect(inspect.certificates[0].serial).toBe(acmeSerial);
  });

  it('issue-client for an id with an active certificate is a conflict unless --replace', () => {
    const before = fileDigest(registry);
    expectError(ca(dir, ['issue-client', 'acme']), 5, /already has an active certificate/);
    expect(fileDigest(registry)).toBe(before);
  });

  it('--json: a dry run says dryRun: true with the same action word as a real run (no would-), and inspect FILE names the key as the registry does', () => {
    const before = fileDigest(registry);
    const boot = ca(dir, ['bootstrap', '--force', '--dry-run', '--json']);
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.json()).toMatchObject({ dryRun: true, action: 'replaced', files: [] });
    const one = ca(dir, ['issue-client', 'dry-one', '--dry-run', '--json']);
    expect(one.code, one.stderr).toBe(0);
    expect(one.json()).toMatchObject({ dryRun: true, action: 'issued', clientId: 'dry-one', files: [] });
    const again = ca(dir, ['issue-client', 'acme', '--replace', '--dry-run', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json()).toMatchObject({ dryRun: true, action: 'replaced', replacedSerial: acmeSerial });
    expect(fileDigest(registry)).toBe(before);
    const file = ca(dir, ['inspect', join('bundles', 'acme', 'acme.crt'), '--json']);
    expect(file.code, file.stderr).toBe(0);
    const cert = file.json().certificates[0];
    expect(cert.keyType).toBe('ec-p256');
    expect(cert.registry).toMatchObject({ serial: acmeSerial, keyType: 'ec-p256' });
  });

  it('signs a CSR with only its public key: subject and extensions come from the profile', () => {
    const r = ca(dir, ['issue-client', 'partner', '--csr', 'partner.csr', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.keyOrigin).toBe('csr');
    expect(out.subject).toBe('CN=partner, O=Acme Corp');
    expect(out.files.some((p: string) => p.endsWith('.key'))).toBe(false);
    const crt = readFileSync(join(dir, 'bundles', 'partner', 'partner.crt'), 'utf8');
    const keyPub = createPublicKey(readFileSync(join(dir, 'partner.key'))).export({ type: 'spki', format: 'der' }).toString('hex');
    expect(spki(crt)).toBe(keyPub);
    expect(openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'pki', 'truststore.pem'), join(dir, 'bundles', 'partner', 'partner.crt')]).code).toBe(0);
  });

  it.each([
    [['issue-client', '../etc/passwd'], 3, /invalid client id/],
    [['issue-client', 'a/b'], 3, /invalid client id/],
    [['issue-client', 'x'.repeat(65)], 3, /invalid client id/],
    [['issue-client', 'weak', '--csr', 'weak.csr'], 3, /1024 bits is too weak/],
    [['issue-client', 'evil', '--csr', 'ca-request.csr'], 3, /asks to be a CA/],
    [['issue-client', 'tampered', '--csr', 'tampered.csr'], 3, /signature does not verify/],
    [['issue-client', 'garbage', '--csr', 'garbage.csr'], 3, /malformed CSR/],
    [['issue-client', 'nofile', '--csr', 'missing.csr'], 3, /not found/],
    [['issue-client', 'ed', '--key-type', 'ed25519'], 3, /not supported/],
    [['issue-client', 'rsa1k', '--key-type', 'rsa-1024'], 3, /too weak/],
    [['issue-client', 'longlived', '--days', '0'], 2, /--days must be a whole number from 1/],
    [['inspect', 'notes.pem'], 3, /not found/],
    [['revoke', 'nobody', '--yes'], 4, /unknown client nobody/],
    [['revoke', '--serial', 'abcdef', '--yes'], 4, /no certificate with serial/],
    [['renew', 'nobody'], 4, /has no active certificate/],
    [['issue-client', 'x', '--bogus-flag'], 2, /unknown option/],
    [['revoke', 'acme', '--reason', 'boredom', '--yes'], 3, /unknown revocation reason/],
  ])('bad input %j: exit %i, one-line error, nothing changed', (args, code, pattern) => {
    const before = fileDigest(registry);
    expectError(ca(dir, args as string[]), code as number, pattern as RegExp);
    expect(fileDigest(registry)).toBe(before);
  });

  it('a wrong passphrase is refused before anything is written', () => {
    const before = fileDigest(registry);
    expectError(ca(dir, ['issue-client', 'late'], { CA_PASSPHRASE: 'not-the-passphrase' }), 3, /wrong passphrase/);
    expect(fileDigest(registry)).toBe(before);
    expect(existsSync(join(dir, 'bundles', 'late'))).toBe(false);
  });

  it('a missing passphrase without a terminal names the variable to set', () => {
    expectError(ca(dir, ['issue-client', 'late'], { CA_PASSPHRASE: undefined }), 2, /passphrase needed/);
  });

  it('takes the passphrase from --passphrase-file (first line) instead of the environment', () => {
    const own = tempDir();
    writeFileSync(join(own, 'pass.txt'), `${PASSPHRASE}\n`, { mode: 0o600 });
    expect(ca(own, ['bootstrap', '--passphrase-file', 'pass.txt'], { CA_PASSPHRASE: undefined }).code).toBe(0);
    const r = ca(own, ['issue-client', 'from-file', '--passphrase-file', 'pass.txt', '--json'], { CA_PASSPHRASE: undefined });
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(join(own, 'wrong.txt'), 'not-the-passphrase\n');
    expectError(ca(own, ['issue-client', 'from-file2', '--passphrase-file', 'wrong.txt'], { CA_PASSPHRASE: undefined }), 3, /wrong passphrase/);
    expectError(ca(own, ['issue-client', 'from-file3', '--passphrase-file', 'absent.txt'], { CA_PASSPHRASE: undefined }), 3, /passphrase file absent\.txt not found/);
  });

  it('--no-passphrase needs --insecure', () => {
    expectError(ca(tempDir(), ['bootstrap', '--no-passphrase']), 2, /unencrypted/);
  });

  it('writes a PKCS#12 bundle with modern encryption that OpenSSL opens', () => {
    const r = ca(dir, ['issue-client', 'p12client', '--p12', '--json'], { CA_P12_PASSWORD: 'p12-secret-pass' });
    expect(r.code, r.stderr).toBe(0);
    const p12 = join(dir, 'bundles', 'p12client', 'p12client.p12');
    expect(mode(p12)).toBe(0o600);
    const info = openssl(['pkcs12', '-in', p12, '-info', '-nokeys', '-passin', 'pass:p12-secret-pass']);
    expect(info.code).toBe(0);
    expect(info.out).toMatch(/AES-256-CBC/);
    expect(info.out).toMatch(/CN ?= ?p12client/);
  });

  it('provisions declaratively from a file, skips what exists, and prunes with confirmation', () => {
    // CSR paths stay inside the file's directory (test/e2e/bad-input.test.ts)
    mkdirSync(join(dir, 'clients', 'csr'), { recursive: true });
    copyFileSync(join(dir, 'partner.csr'), join(dir, 'clients', 'csr', 'partner.csr'));
    writeFileSync(join(dir, 'clients', 'sandbox.json'), JSON.stringify({ clients: [{ client_id: 'api-001' }, { client_id: 'api-002', key_type: 'rsa-2048' }, { client_id: 'acme' }, { client_id: 'partner2', csr: 'csr/partner.csr' }] }));
    const first = ca(dir, ['issue-client', '--from', 'clients/sandbox.json', '--json']);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json().issued.map((i: any) => i.clientId).sort()).toEqual(['api-001', 'api-002', 'partner2']);
    expect(first.json().skipped.map((i: any) => i.clientId)).toEqual(['acme']);
    // --from items are the certificate object (fingerprint, dates, key type) with the files of their bundle
    const api2 = first.json().issued.find((i: any) => i.clientId === 'api-002');
    expect(api2).toMatchObject({ kind: 'client', status: 'active', keyType: 'rsa-2048', keyOrigin: 'generated', fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(Date.parse(api2.notAfter)).toBeGreaterThan(Date.parse(api2.notBefore));
    expect(api2.files.map((p: string) => p.split('/').slice(-2).join('/')).sort()).toEqual(['api-002/api-002.crt', 'api-002/api-002.key', 'api-002/chain.pem']);
    expect(first.json().issued.find((i: any) => i.clientId === 'partner2')).toMatchObject({ keyOrigin: 'csr' });
    expect(first.json().skipped[0]).toMatchObject({ clientId: 'acme', serial: acmeSerial, fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) });
    const again = ca(dir, ['issue-client', '--from', 'clients/sandbox.json', '--json']).json();
    expect(again.issued).toHaveLength(0);
    expect(again.skipped).toHaveLength(4);
    const before = fileDigest(registry);
    expectError(ca(dir, ['issue-client', '--from', 'clients/sandbox.json', '--prune']), 2, /confirmation needed/);
    expect(fileDigest(registry)).toBe(before);
    const dry = ca(dir, ['issue-client', '--from', 'clients/sandbox.json', '--prune', '--dry-run', '--json']).json();
    expect(dry.pruned.map((p: any) => p.clientId).sort()).toEqual(['p12client', 'partner']);
    expect(dry.dryRun).toBe(true);
    expect(fileDigest(registry)).toBe(before);
    const pruned = ca(dir, ['issue-client', '--from', 'clients/sandbox.json', '--prune', '--yes', '--json']);
    expect(pruned.code, pruned.stderr).toBe(0);
    expect(ca(dir, ['list', '--status', 'revoked', '--json']).json().certificates.map((c: any) => c.clientId).sort()).toEqual(['p12client', 'partner']);
    writeFileSync(join(dir, 'clients', 'bad.json'), JSON.stringify({ clients: [{ client_id: '../x' }] }));
    expectError(ca(dir, ['issue-client', '--from', 'clients/bad.json']), 3, /invalid client id/);
  });

  it('renew keeps the key and supersedes the old certificate', () => {
    const old = readFileSync(join(dir, 'bundles', 'acme', 'acme.crt'), 'utf8');
    const r = ca(dir, ['renew', 'acme', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json().renewed[0];
    expect(out.oldSerial).toBe(acmeSerial);
    const now = readFileSync(join(dir, 'bundles', 'acme', 'acme.crt'), 'utf8');
    expect(spki(now)).toBe(spki(old));
    expect(new X509Certificate(now).serialNumber.toLowerCase()).toBe(out.serial);
    const hist = ca(dir, ['inspect', 'acme', '--json']).json().certificates;
    expect(hist.map((h: any) => h.status)).toEqual(['active', 'superseded']);
    expect(hist[1].graceUntil).toBeTruthy();
  });

  it('rotate-intermediate: dry run changes nothing; the real run keeps everyone working', () => {
    const before = fileDigest(registry);
    const dry = ca(dir, ['rotate-intermediate', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({ dryRun: true, plan: { newIntermediate: true }, truststore: null, files: [] });
    expect(fileDigest(registry)).toBe(before);
    const oldAcme = join(dir, 'acme-old.crt');
    writeFileSync(oldAcme, readFileSync(join(dir, 'bundles', 'acme', 'acme.crt')));
    const r = ca(dir, ['rotate-intermediate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.intermediate.subject).toMatch(/Issuing CA G2/);
    // it published version 2 (before re-issuing): the run says the truststore changed, and wrote it
    expect(out.truststore).toMatchObject({ version: '2', changed: true });
    expect(out.files).toEqual([join(realpathSync(dir), 'pki', 'truststore.pem')]);
    for (const x of out.reissued) expect(x.files.some((p: string) => p.endsWith(`${x.clientId}.crt`))).toBe(true);
    expect(out.reissued.map((x: any) => x.clientId).sort()).toEqual(['acme', 'api-001', 'api-002', 'partner2']);
    const ts = join(dir, 'pki', 'truststore.pem');
    expect(readFileSync(ts, 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    // new certificates and the superseded ones both verify against the new truststore
    for (const c of ['acme', 'api-001', 'api-002', 'partner2']) {
      expect(openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', ts, join(dir, 'bundles', c, `${c}.crt`)]).code).toBe(0);
    }
    expect(openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', ts, oldAcme]).code).toBe(0);
    // same key, new issuer
    expect(spki(readFileSync(join(dir, 'bundles', 'acme', 'acme.crt'), 'utf8'))).toBe(spki(readFileSync(oldAcme, 'utf8')));
    const tv = ca(dir, ['truststore', 'verify', '--json']);
    expect(tv.code, tv.stdout).toBe(0);
    expect(tv.json().ok).toBe(true);
  });

  it('revoke is immediate, recorded with its reason, and idempotent', () => {
    const r = ca(dir, ['revoke', 'api-001', '--reason', 'keyCompromise', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.revoked.length).toBe(2); // the active one and the superseded one still in grace
    expect(out.revoked.every((x: any) => x.status === 'revoked' && x.revokedAt)).toBe(true);
    const again = ca(dir, ['revoke', 'api-001', '--yes', '--json']);
    expect(again.code).toBe(0);
    expect(again.json().revoked).toHaveLength(0);
    expect(again.json().alreadyRevoked).toHaveLength(2);
    expectError(ca(dir, ['revoke', 'api-002']), 2, /confirmation needed/);
  });

  it('status shows the hierarchy and counts', () => {
    const s = ca(dir, ['status', '--json']);
    expect(s.code, s.stderr).toBe(0);
    const j = s.json();
    expect(j.initialized).toBe(true);
    expect(j.intermediates.map((i: any) => i.status)).toEqual(['active', 'superseded']);
    expect(j.truststore.inSync).toBe(true);
    expect(j.clients.revoked).toBeGreaterThanOrEqual(2);
    const text = ca(dir, ['status']).stdout;
    expect(text).toMatch(/\[root\]/);
    expect(text).toMatch(/├─ .*\[issuing\]/);
    expect(text).toMatch(/└─ .*\[superseded\]/);
  });

  it('retire-intermediate refuses while clients are in grace, then works with --force', () => {
    expectError(ca(dir, ['retire-intermediate', '--yes']), 5, /grace period/);
    const r = ca(dir, ['retire-intermediate', '--force', '--yes', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(dir, 'pki', 'truststore.pem'), 'utf8').match(/BEGIN CERTIFICATE/g)).toHaveLength(2);
  });

  it('truststore verify fails with exit 7 on a bundle API Gateway would refuse', () => {
    const leafOnly = join(dir, 'leaf-only.pem');
    writeFileSync(leafOnly, readFileSync(join(dir, 'bundles', 'acme', 'acme.crt')));
    const r = ca(dir, ['truststore', 'verify', leafOnly, '--json']);
    expect(r.code).toBe(7);
    expect(r.json().violations.join('\n')).toMatch(/not a CA certificate/);
  });

  it('help answers how-to questions with examples and exit codes for every command', () => {
    const top = ca(dir, ['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/How do I/);
    for (const c of ['bootstrap', 'issue-client', 'renew', 'revoke', 'rotate-intermediate', 'retire-intermediate', 'list', 'inspect', 'status', 'init']) {
      const h = ca(dir, [c, '--help']);
      expect(h.code).toBe(0);
      expect(h.stdout).toMatch(/Examples:/);
      expect(h.stdout).toMatch(/Exit codes:/);
    }
    expect(ca(dir, ['--version']).stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
  });

  it('--json errors are a JSON document too', () => {
    const r = ca(dir, ['renew', 'nobody', '--json']);
    expect(r.code).toBe(4);
    expect(r.json().error).toMatchObject({ code: 'notFound', exitCode: 4 });
  });

  it('never prints a private key', () => {
    for (const args of [['list', '--all', '--json'], ['status', '--json'], ['inspect', 'acme', '--json'], ['truststore', 'show']]) {
      const r = ca(dir, args);
      expect(r.stdout + r.stderr).not.toMatch(/PRIVATE KEY/);
    }
    expect(PASSPHRASE.length).toBeGreaterThan(8);
  });
});

describe('a bundle\'s .p12 follows its certificate (renew, rotation, --rekey, retirement)', () => {
  const dir = tempDir();
  const PW = 'p12-e2e-secret';
  const b = (id: string, f: string) => join(dir, 'bundles', id, f);
  /** the client certificate OpenSSL reads from the .p12, and the public key of the key inside it */
  const p12 = (id: string) => {
    const certs = openssl(['pkcs12', '-in', b(id, `${id}.p12`), '-nokeys', '-clcerts', '-passin', `pass:${PW}`]);
    expect(certs.code, certs.out).toBe(0);
    const key = openssl(['pkcs12', '-in', b(id, `${id}.p12`), '-nocerts', '-nodes', '-passin', `pass:${PW}`]);
    expect(key.code, key.out).toBe(0);
    return { cert: certs.out.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/)![0], keySpki: createPublicKey(key.out).export({ type: 'spki', format: 'der' }).toString('hex') };
  };
  const digests = (id: string) => [`${id}.crt`, `${id}.key`, 'chain.pem', `${id}.p12`].map((f) => fileDigest(b(id, f)));

  beforeAll(() => {
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    const r = ca(dir, ['issue-client', 'holder', '--p12'], { CA_P12_PASSWORD: PW });
    expect(r.code, r.stderr).toBe(0);
    expect(ca(dir, ['issue-client', 'plain']).code).toBe(0);
  });

  it('renew of a bundle with a .p12 and no password is refused and changes nothing', () => {
    const before = digests('holder');
    const registry = fileDigest(join(dir, 'pki', 'registry.json'));
    const r = ca(dir, ['renew', '--all']);
    expectError(r, 2, /holder/);
    expect(r.stderr).toMatch(/--p12-password-file/);
    expect(r.stderr).toMatch(/--drop-p12/);
    expect(digests('holder')).toEqual(before);
    expect(fileDigest(join(dir, 'pki', 'registry.json'))).toBe(registry);
    const truststore = fileDigest(join(dir, 'pki', 'truststore.pem'));
    expectError(ca(dir, ['rotate-intermediate']), 2, /\.p12/);
    expect(fileDigest(join(dir, 'pki', 'registry.json'))).toBe(registry);
    expect(fileDigest(join(dir, 'pki', 'truststore.pem'))).toBe(truststore);
  });

  it('renew rewrites the .p12 with the new certificate', () => {
    writeFileSync(join(dir, 'p12.pass'), `${PW}\n`);
    const r = ca(dir, ['renew', 'holder', '--p12-password-file', 'p12.pass', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const crt = readFileSync(b('holder', 'holder.crt'), 'utf8');
    expect(r.json().renewed[0].serial).toBe(new X509Certificate(crt).serialNumber.toLowerCase());
    expect(p12('holder').cert).toBe(crt);
    expect(p12('holder').keySpki).toBe(spki(crt));
    expect(mode(b('holder', 'holder.p12'))).toBe(0o600);
  });

  it('--rekey rewrites the .p12 with the new key', () => {
    const oldKey = readFileSync(b('holder', 'holder.key'), 'utf8');
    const r = ca(dir, ['rotate-intermediate', '--rekey', '--json'], { CA_P12_PASSWORD: PW });
    expect(r.code, r.stderr).toBe(0);
    const crt = readFileSync(b('holder', 'holder.crt'), 'utf8');
    const key = readFileSync(b('holder', 'holder.key'), 'utf8');
    expect(key).not.toBe(oldKey);
    expect(createPublicKey(key).export({ type: 'spki', format: 'der' }).toString('hex')).toBe(spki(crt));
    expect(p12('holder')).toEqual({ cert: crt, keySpki: spki(crt) });
    const chain = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'pki', 'truststore.pem'), b('holder', 'holder.crt')]);
    expect(chain.code, chain.out).toBe(0);
    expect(existsSync(b('plain', 'plain.p12'))).toBe(false);
  });

  it('--drop-p12 removes the .p12; retire-intermediate names a bundle still on the retired intermediate', () => {
    const old = readFileSync(b('plain', 'plain.crt'), 'utf8');
    const r = ca(dir, ['renew', 'holder', '--drop-p12']);
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(b('holder', 'holder.p12'))).toBe(false);
    expect(readdirSync(join(dir, 'bundles')).sort()).toEqual(['holder', 'plain']);
    const rot = ca(dir, ['rotate-intermediate', '--json']);
    expect(rot.code, rot.stderr).toBe(0);
    // plain's bundle is put back from a copy made before this rotation
    writeFileSync(b('plain', 'plain.crt'), old);
    const retired = ca(dir, ['retire-intermediate', '--force', '--yes', '--json']);
    expect(retired.code, retired.stderr).toBe(0);
    expect(retired.json().staleBundles.map((x: any) => x.clientId)).toEqual(['plain']);
    expect(retired.stderr).toMatch(/warning: the bundle of plain still holds certificate/);
  });
});

describe('configuration and environments', () => {
  it('ca init writes environments, --env selects each with its own store', () => {
    const dir = tempDir();
    const a = ca(dir, ['init', '--env', 'sandbox', '--store', 'local', '--org', 'Sandbox Org', '--json']);
    expect(a.code, a.stderr).toBe(0);
    const b = ca(dir, ['init', '--env', 'staging', '--store', 'local', '--org', 'Staging Org', '--json']);
    expect(b.code, b.stderr).toBe(0);
    const cfg = JSON.parse(readFileSync(join(dir, 'ca.config.json'), 'utf8'));
    expect(Object.keys(cfg.environments)).toEqual(['sandbox', 'staging']);
    expect(ca(dir, ['bootstrap', '--json']).json().root.subject).toMatch(/O=Sandbox Org/);
    expect(ca(dir, ['bootstrap', '--env', 'staging', '--json']).json().root.subject).toMatch(/O=Staging Org/);
    expect(existsSync(join(dir, 'pki', 'sandbox', 'registry.json'))).toBe(true);
    expect(existsSync(join(dir, 'pki', 'staging', 'registry.json'))).toBe(true);
    expectError(ca(dir, ['status', '--env', 'production']), 3, /environment production is not in/);
    expectError(ca(dir, ['init', '--env', 'sandbox', '--store', 'local']), 5, /already exists/);
  });

  it('ca init --ci github writes the workflows into .github/workflows', () => {
    const dir = tempDir();
    const r = ca(dir, ['init', '--env', 'production', '--store', 'aws', '--region', 'eu-west-1', '--bucket', 'acme-ca-ts', '--table', 'acme-ca', '--domain', 'api.acme.com:rest', '--ci', 'github', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const wf = readdirSync(join(dir, '.github', 'workflows'));
    expect(wf.sort()).toEqual(readdirSync(join(REPO, 'templates', 'github')).sort());
    expect(wf.length).toBeGreaterThanOrEqual(4);
    const cfg = JSON.parse(readFileSync(join(dir, 'ca.config.json'), 'utf8'));
    expect(cfg.environments.production.aws).toMatchObject({ region: 'eu-west-1', bucket: 'acme-ca-ts', table: 'acme-ca', domains: [{ name: 'api.acme.com', type: 'rest' }] });
  });

  it('flags beat CA_* variables, which beat the file', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.config.json'), JSON.stringify({ dir: './from-file', organization: 'File Org' }));
    const r = ca(dir, ['bootstrap', '--json'], { CA_ORGANIZATION: 'Env Org' });
    expect(r.json().root.subject).toMatch(/O=Env Org/);
    expect(existsSync(join(dir, 'from-file', 'registry.json'))).toBe(true);
    const r2 = ca(dir, ['--dir', 'from-flag', 'bootstrap', '--org', 'Flag Org', '--json'], { CA_ORGANIZATION: 'Env Org' });
    expect(r2.json().root.subject).toMatch(/O=Flag Org/);
    expect(existsSync(join(dir, 'from-flag', 'registry.json'))).toBe(true);
  });
});

describe('failed commands leave nothing behind', () => {
  /** Every file under `root` (keys, registry, truststore, bundles, a stray .lock), by digest: what a failed command must not change. */
  function tree(root: string, at = ''): Record<string, string> {
    const out: Record<string, string> = {};
    for (const name of readdirSync(join(root, at))) {
      const rel = at ? `${at}/${name}` : name;
      if (statSync(join(root, rel)).isDirectory()) Object.assign(out, { [`${rel}/`]: 'dir' }, tree(root, rel));
      else out[rel] = fileDigest(join(root, rel));
    }
    return out;
  }
  const keyFile = (d: string, label: string) => readdirSync(join(d, 'pki', 'keys')).find((f) => f.startsWith(`${label}-`))!;
  const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

  it('a swapped CA key is refused and nothing is written', () => {
    const d = tempDir();
    const boot = ca(d, ['bootstrap', '--json']);
    expect(boot.code, boot.stderr).toBe(0);
    const { root, intermediate } = boot.json();
    const keys = join(d, 'pki', 'keys');
    const rootKey = keyFile(d, 'root');
    const interKey = keyFile(d, 'intermediate');
    const a = readFileSync(join(keys, rootKey));
    writeFileSync(join(keys, rootKey), readFileSync(join(keys, interKey)), { mode: 0o600 });
    writeFileSync(join(keys, interKey), a, { mode: 0o600 });
    const before = tree(d);

    const issue = ca(d, ['issue-client', 'c1']);
    expectError(issue, 3, new RegExp(`^error: CA key pki/keys/${esc(interKey)} does not belong to certificate ${intermediate.serial} \\(CN=Example Issuing CA G1, O=Example Org\\)$`));
    const rotate = ca(d, ['rotate-intermediate']);
    expectError(rotate, 3, new RegExp(`^error: CA key pki/keys/${esc(rootKey)} does not belong to certificate ${root.serial} \\(CN=Example Root CA, O=Example Org\\)$`));
    // no bundle, no new key, no record, no truststore version, no lock left
    expect(tree(d)).toEqual(before);
  });

  it('a rotation with the root key missing leaves no orphan key', () => {
    const d = tempDir();
    expect(ca(d, ['bootstrap']).code).toBe(0);
    expect(ca(d, ['issue-client', 'c1']).code).toBe(0);
    const rootKey = keyFile(d, 'root');
    rmSync(join(d, 'pki', 'keys', rootKey));
    const before = tree(d);
    for (let attempt = 0; attempt < 3; attempt++) {
      expectError(ca(d, ['rotate-intermediate']), 4, new RegExp(`^error: CA key pki/keys/${esc(rootKey)} is missing$`));
      expect(readdirSync(join(d, 'pki', 'keys')), `after try ${attempt + 1}`).toHaveLength(1);
    }
    expect(tree(d)).toEqual(before);
  });

  // As root a chmod does not stop writes: see readOnlyMethod (a read-only bind mount in a private mount namespace).
  it.runIf(readOnlyMethod())('a rotation into a read-only bundle directory changes nothing', () => {
    const d = tempDir();
    expect(ca(d, ['bootstrap']).code).toBe(0);
    expect(ca(d, ['issue-client', 'c1']).code).toBe(0);
    const bundles = join(d, 'bundles');
    const before = tree(d);
    const r = caWithReadOnly(d, bundles, ['rotate-intermediate']);
    expectError(r, 6, new RegExp(`^error: cannot write bundles to ${esc(bundles)}: `));
    // still one intermediate, truststore version 1, the old bundle: nothing of the rotation happened
    expect(tree(d)).toEqual(before);
    expectError(caWithReadOnly(d, bundles, ['issue-client', 'c2']), 6, /cannot write bundles/);
    expectError(caWithReadOnly(d, bundles, ['renew', 'c1']), 6, /cannot write bundles/);
    expect(tree(d)).toEqual(before);
    // once the directory is writable the same command goes through
    const again = ca(d, ['rotate-intermediate', '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().reissued).toHaveLength(1);
  });

  it.runIf(readOnlyMethod())('revoke checks the client exists before it takes the lock (its first write)', () => {
    const d = tempDir();
    expect(ca(d, ['bootstrap']).code).toBe(0);
    const before = tree(d);
    expectError(caWithReadOnly(d, join(d, 'pki'), ['revoke', 'nobody', '--yes']), 4, /unknown client nobody/);
    expect(tree(d)).toEqual(before);
  });
});
