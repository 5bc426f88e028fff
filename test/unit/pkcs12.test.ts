import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { buildPkcs12, type Pkcs12Options } from '../../src/domain/pkcs12.js';

const PASSWORD = 'correct horse battery staple';

let workDir: string;

beforeAll(() => {
  workDir = mkdtempSync(join(tmpdir(), 'pkcs12-test-'));
});

afterAll(() => {
  rmSync(workDir, { recursive: true, force: true });
});

interface Identity {
  keyDer: Buffer;
  certDer: Buffer;
}

let fileCounter = 0;
function tempPath(suffix: string): string {
  fileCounter += 1;
  return join(workDir, `${fileCounter}${suffix}`);
}

/** A key pair plus a one-day self-signed certificate issued by `openssl req -x509`. */
function selfSigned(privateKey: KeyObject, commonName: string): Identity {
  const keyPath = tempPath('.key.pem');
  const certPath = tempPath('.cert.der');
  writeFileSync(keyPath, privateKey.export({ type: 'pkcs8', format: 'pem' }));
  execFileSync(
    'openssl',
    ['req', '-x509', '-new', '-key', keyPath, '-subj', `/CN=${commonName}`, '-days', '1', '-outform', 'DER', '-out', certPath],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return {
    keyDer: privateKey.export({ type: 'pkcs8', format: 'der' }),
    certDer: readFileSync(certPath),
  };
}

function ecIdentity(commonName: string): Identity {
  return selfSigned(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey, commonName);
}

function rsaIdentity(commonName: string): Identity {
  return selfSigned(generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, commonName);
}

function writePfx(pfx: Uint8Array): string {
  const path = tempPath('.p12');
  writeFileSync(path, pfx);
  return path;
}

/** Runs `openssl pkcs12` keeping both streams: `-info` writes the algorithm lines to stderr. */
function pkcs12Info(path: string, password: string): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('openssl', ['pkcs12', '-in', path, '-info', '-nodes', '-passin', `pass:${password}`], {
    encoding: 'utf8',
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Canonical PEM of a private key as re-encoded by `openssl pkey`. */
function opensslPkey(input: string | Buffer, inform: 'PEM' | 'DER'): string {
  return execFileSync('openssl', ['pkey', '-inform', inform], { input, encoding: 'utf8' });
}

describe.each([
  { name: 'P-256', make: ecIdentity },
  { name: 'RSA-2048', make: rsaIdentity },
])('buildPkcs12 with a $name key', ({ make }) => {
  let leaf: Identity;
  let intermediate: Identity;
  let root: Identity;
  let options: Pkcs12Options;
  let pfxPath: string;

  beforeAll(() => {
    leaf = make('leaf.client.test');
    intermediate = ecIdentity('Test Issuing CA');
    root = ecIdentity('Test Root CA');
    options = {
      privateKeyPkcs8Der: leaf.keyDer,
      certificateDer: leaf.certDer,
      caCertificatesDer: [intermediate.certDer, root.certDer],
      password: PASSWORD,
      friendlyName: 'client-1',
    };
    pfxPath = writePfx(buildPkcs12(options));
  });

  it('opens with openssl and contains the leaf, the CA chain and the key', () => {
    const { status, stdout } = pkcs12Info(pfxPath, PASSWORD);

    expect(status).toBe(0);
    const subjects = [...stdout.matchAll(/^subject=(.*)$/gm)].map((m) => m[1]);
    expect(subjects).toEqual(['CN = leaf.client.test', 'CN = Test Issuing CA', 'CN = Test Root CA']);
    expect(stdout).toContain('-----BEGIN PRIVATE KEY-----');
    expect(stdout.match(/friendlyName: client-1/g)).toHaveLength(2);
    expect(stdout.match(/localKeyID: /g)).toHaveLength(2);
  });

  it('uses PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC) and a SHA-256 MAC', () => {
    const { status, stderr } = pkcs12Info(pfxPath, PASSWORD);

    expect(status).toBe(0);
    expect(stderr).toMatch(/^MAC: sha256, Iteration 2048$/m);
    expect(stderr).toMatch(/^MAC length: 32, salt length: 16$/m);
    expect(stderr).toMatch(
      /^PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256$/m,
    );
    expect(stderr).toMatch(/^Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256$/m);
    expect(stderr).not.toMatch(/RC2|3DES|TripleDES|sha1/i);
  });

  it('round-trips the private key unchanged', () => {
    const extracted = execFileSync(
      'openssl',
      ['pkcs12', '-in', pfxPath, '-nocerts', '-nodes', '-passin', `pass:${PASSWORD}`],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] },
    );

    expect(opensslPkey(extracted, 'PEM')).toBe(opensslPkey(leaf.keyDer, 'DER'));
  });

  it('is rejected by openssl with a wrong password', () => {
    const { status, stdout } = pkcs12Info(pfxPath, 'not the password');

    expect(status).not.toBe(0);
    expect(stdout).not.toContain('PRIVATE KEY');
  });

  it('loads into Node TLS with the right passphrase only', () => {
    const pfx = readFileSync(pfxPath);

    expect(() => createSecureContext({ pfx, passphrase: PASSWORD })).not.toThrow();
    expect(() => createSecureContext({ pfx, passphrase: 'not the password' })).toThrow();
  });
});

describe('buildPkcs12 options', () => {
  let leaf: Identity;

  beforeAll(() => {
    leaf = ecIdentity('options.client.test');
  });

  it('honours a custom iteration count and omits friendlyName when not given', () => {
    const path = writePfx(
      buildPkcs12({
        privateKeyPkcs8Der: leaf.keyDer,
        certificateDer: leaf.certDer,
        caCertificatesDer: [],
        password: PASSWORD,
        iterations: 4096,
      }),
    );
    const { status, stdout, stderr } = pkcs12Info(path, PASSWORD);

    expect(status).toBe(0);
    expect(stderr).toMatch(/^MAC: sha256, Iteration 4096$/m);
    expect(stderr).toMatch(/^Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 4096, PRF hmacWithSHA256$/m);
    expect(stdout).not.toContain('friendlyName');
    expect(stdout.match(/localKeyID: /g)).toHaveLength(2);
  });

  it('accepts a non-ASCII password in both openssl and Node TLS', () => {
    const password = 'pässwörd-日本-😀';
    const pfx = buildPkcs12({
      privateKeyPkcs8Der: leaf.keyDer,
      certificateDer: leaf.certDer,
      caCertificatesDer: [],
      password,
    });

    expect(pkcs12Info(writePfx(pfx), password).status).toBe(0);
    expect(() => createSecureContext({ pfx: Buffer.from(pfx), passphrase: password })).not.toThrow();
  });

  it('uses fresh salts and IVs on every call', () => {
    const options: Pkcs12Options = {
      privateKeyPkcs8Der: leaf.keyDer,
      certificateDer: leaf.certDer,
      caCertificatesDer: [],
      password: PASSWORD,
    };

    expect(Buffer.from(buildPkcs12(options)).equals(Buffer.from(buildPkcs12(options)))).toBe(false);
  });

  it('rejects an empty password', () => {
    expect(() =>
      buildPkcs12({ privateKeyPkcs8Der: leaf.keyDer, certificateDer: leaf.certDer, caCertificatesDer: [], password: '' }),
    ).toThrow(/password must not be empty/);
  });

  it('rejects a key that does not match the certificate', () => {
    const other = ecIdentity('other.client.test');

    expect(() =>
      buildPkcs12({
        privateKeyPkcs8Der: other.keyDer,
        certificateDer: leaf.certDer,
        caCertificatesDer: [],
        password: PASSWORD,
      }),
    ).toThrow(/does not match/);
  });

  it('rejects malformed DER input without echoing it', () => {
    const garbage = Buffer.from('not der at all');

    expect(() =>
      buildPkcs12({ privateKeyPkcs8Der: garbage, certificateDer: leaf.certDer, caCertificatesDer: [], password: PASSWORD }),
    ).toThrow(/^PKCS#12 private key is not a valid unencrypted PKCS#8 DER key$/);
    expect(() =>
      buildPkcs12({
        privateKeyPkcs8Der: leaf.keyDer,
        certificateDer: leaf.certDer,
        caCertificatesDer: [garbage],
        password: PASSWORD,
      }),
    ).toThrow(/CA certificate #1/);
  });

  it('rejects a PEM certificate passed where DER is expected', () => {
    const pem = Buffer.from(execFileSync('openssl', ['x509', '-inform', 'DER'], { input: leaf.certDer }));

    expect(() =>
      buildPkcs12({ privateKeyPkcs8Der: leaf.keyDer, certificateDer: pem, caCertificatesDer: [], password: PASSWORD }),
    ).toThrow(/client certificate is not a valid DER X.509 certificate/);
  });

  it('rejects a non-positive iteration count', () => {
    expect(() =>
      buildPkcs12({
        privateKeyPkcs8Der: leaf.keyDer,
        certificateDer: leaf.certDer,
        caCertificatesDer: [],
        password: PASSWORD,
        iterations: 0,
      }),
    ).toThrow(/iterations/);
  });
});
