import { createPrivateKey, createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkCsr, MAX_CSR_BYTES } from '../../src/domain/csr.js';
import { bitString, objectIdentifier, sequence, tlv, toPem } from '../../src/domain/der.js';
import { cleanupAll, expectCaErrorSync, openssl, opensslOk, tempDir } from '../helpers/pki.js';

afterAll(cleanupAll);

let dir: string;
let n = 0;

/** `openssl req -new` with a fresh key; returns the CSR PEM and the key's SPKI DER. */
function makeCsr(newkey: string[], extra: string[] = [], cn = 'client-abcdef'): { csr: string; spki: Buffer; keyPath: string } {
  n++;
  const keyPath = join(dir, `k${n}.pem`);
  const csrPath = join(dir, `r${n}.csr`);
  opensslOk(['req', '-new', ...newkey, '-nodes', '-keyout', keyPath, '-subj', `/O=Acme/CN=${cn}`, '-out', csrPath, ...extra]);
  const spki = createPublicKey(createPrivateKey(readFileSync(keyPath))).export({ format: 'der', type: 'spki' });
  return { csr: readFileSync(csrPath, 'utf8'), spki, keyPath };
}

const P256 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256'];
const P384 = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384'];
const RSA2048 = ['-newkey', 'rsa:2048'];

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

beforeAll(() => {
  dir = tempDir('csr');
});

describe('checkCsr accepts', () => {
  it('a P-256 CSR and returns exactly the key’s SubjectPublicKeyInfo', () => {
    const { csr, spki } = makeCsr(P256);
    const r = checkCsr(csr);
    expect(r.keyType).toBe('ec-p256');
    expect(Buffer.from(r.publicKeySpki).equals(spki)).toBe(true);
  });

  it('a P-384 CSR', () => {
    const { csr, spki } = makeCsr(P384);
    const r = checkCsr(csr);
    expect(r.keyType).toBe('ec-p384');
    expect(Buffer.from(r.publicKeySpki).equals(spki)).toBe(true);
  });

  it('an RSA-2048 CSR', () => {
    const { csr, spki } = makeCsr(RSA2048);
    const r = checkCsr(csr);
    expect(r.keyType).toBe('rsa-2048');
    expect(Buffer.from(r.publicKeySpki).equals(spki)).toBe(true);
  });

  it('a CSR signed with SHA-384, text around the PEM block, and CRLF line ends', () => {
    const { csr, spki } = makeCsr(P256, ['-sha384']);
    const r = checkCsr(`Certificate request for client-abcdef\r\n${csr.replace(/\n/g, '\r\n')}trailing text\r\n`);
    expect(Buffer.from(r.publicKeySpki).equals(spki)).toBe(true);
  });

  it('the legacy NEW CERTIFICATE REQUEST label', () => {
    const { csr, spki } = makeCsr(P256);
    const r = checkCsr(csr.replace(/CERTIFICATE REQUEST/g, 'NEW CERTIFICATE REQUEST'));
    expect(Buffer.from(r.publicKeySpki).equals(spki)).toBe(true);
  });

  it('a CSR asking for a harmless extension (keyUsage digitalSignature, cA=false): the profile decides anyway', () => {
    const { csr } = makeCsr(P256, ['-addext', 'basicConstraints=CA:FALSE', '-addext', 'keyUsage=critical,digitalSignature']);
    expect(checkCsr(csr).keyType).toBe('ec-p256');
  });
});

describe('checkCsr refuses (CaError invalidInput, one line)', () => {
  it('an RSA-1024 key, naming 1024 and 2048', () => {
    const { csr } = makeCsr(['-newkey', 'rsa:1024']);
    const e = expectCaErrorSync(() => checkCsr(csr), 'invalidInput');
    expect(e.message).toMatch(/1024/);
    expect(e.message).toMatch(/2048/);
  });

  it('an Ed25519 key', () => {
    const { csr } = makeCsr(['-newkey', 'ed25519']);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /ed25519/i);
  });

  it('a P-521 key', () => {
    const { csr } = makeCsr(['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-521']);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /secp521r1|P-256/);
  });

  it('a CSR asking for basicConstraints CA:TRUE', () => {
    const { csr } = makeCsr(P256, ['-addext', 'basicConstraints=critical,CA:TRUE']);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /CA/);
  });

  it('a CSR asking for keyUsage keyCertSign', () => {
    const { csr } = makeCsr(P256, ['-addext', 'keyUsage=critical,digitalSignature,keyCertSign']);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /keyCertSign/);
  });

  it('a CSR asking for keyUsage cRLSign', () => {
    const { csr } = makeCsr(P256, ['-addext', 'keyUsage=cRLSign']);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /cRLSign/);
  });

  it.each([
    ['P-256', P256],
    ['RSA-2048', RSA2048],
  ])('a %s CSR whose subject was altered after signing (one bit flipped inside the CN)', (_name, newkey) => {
    const cn = 'client-abcdef';
    const { csr } = makeCsr(newkey, [], cn);
    const der = derOf(csr);
    const at = der.indexOf(Buffer.from(cn, 'ascii'));
    expect(at).toBeGreaterThan(0);
    const tampered = Buffer.from(der);
    tampered[at + 3]! ^= 0x01; // 'e' -> 'd': still a valid UTF8String, only the signature breaks
    expect(opensslOk(['req', '-noout', '-subject', '-inform', 'DER'], tampered)).toMatch(/CN\s?=\s?clidnt-abcdef/);
    // OpenSSL 3.0 exits 0 here but reports the failure
    const check = openssl(['req', '-noout', '-verify', '-inform', 'DER'], tampered);
    expect(check.stdout + check.stderr).toMatch(/verify failure/);
    expectCaErrorSync(() => checkCsr(toPem('CERTIFICATE REQUEST', tampered)), 'invalidInput', /signature does not verify/);
  });

  it('a CSR signed with SHA-1 (RSA)', () => {
    const { csr } = makeCsr(RSA2048, ['-sha1']);
    expect(opensslOk(['req', '-noout', '-text'], csr)).toMatch(/sha1WithRSAEncryption/);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /signature algorithm/);
  });

  it('a CSR signed with SHA-1 (ECDSA)', () => {
    const { csr } = makeCsr(P256, ['-sha1']);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /signature algorithm/);
  });

  it('a CSR signed with RSA-PSS (API Gateway does not list it)', () => {
    const { csr } = makeCsr(RSA2048, ['-sigopt', 'rsa_padding_mode:pss']);
    expect(opensslOk(['req', '-noout', '-text'], csr)).toMatch(/rsassaPss/);
    expectCaErrorSync(() => checkCsr(csr), 'invalidInput', /signature algorithm/);
  });

  it('garbage', () => {
    expectCaErrorSync(() => checkCsr('this is not a CSR at all'), 'invalidInput', /malformed CSR/);
  });

  it('an empty input', () => {
    expectCaErrorSync(() => checkCsr(''), 'invalidInput', /malformed CSR/);
  });

  it('a PEM block with broken base64', () => {
    expectCaErrorSync(() => checkCsr('-----BEGIN CERTIFICATE REQUEST-----\n@@@notbase64@@@\n-----END CERTIFICATE REQUEST-----\n'), 'invalidInput', /malformed CSR/);
  });

  it('a PEM block with valid base64 that is not DER', () => {
    expectCaErrorSync(() => checkCsr(toPem('CERTIFICATE REQUEST', Buffer.from('hello world, definitely not DER'))), 'invalidInput', /malformed CSR/);
  });

  it('a truncated CSR', () => {
    const der = derOf(makeCsr(P256).csr);
    expectCaErrorSync(() => checkCsr(toPem('CERTIFICATE REQUEST', der.subarray(0, der.length - 20))), 'invalidInput', /malformed CSR/);
  });

  it('two CSRs in one file', () => {
    const a = makeCsr(P256).csr;
    const b = makeCsr(P256).csr;
    expectCaErrorSync(() => checkCsr(a + b), 'invalidInput', /more than one CSR/);
  });

  it('an input of 100 KB as too large', () => {
    const { csr } = makeCsr(P256);
    const big = csr + '#'.repeat(100 * 1024);
    expect(big.length).toBeGreaterThan(MAX_CSR_BYTES);
    expectCaErrorSync(() => checkCsr(big), 'invalidInput', /too large/);
  });

  it('a certificate PEM given instead of a CSR', () => {
    const keyPath = join(dir, 'cert.key');
    const cert = opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', keyPath, '-subj', '/CN=not-a-csr', '-days', '1']);
    expect(cert).toMatch(/BEGIN CERTIFICATE-----/);
    expectCaErrorSync(() => checkCsr(cert), 'invalidInput', /malformed CSR/);
  });

  it('a private key given instead of a CSR', () => {
    const { keyPath } = makeCsr(P256);
    expectCaErrorSync(() => checkCsr(readFileSync(keyPath, 'utf8')), 'invalidInput', /malformed CSR/);
  });
});

/** A PKCS#10 request built byte by byte and signed with a P-256 key: for shapes openssl will not write. */
function handmadeCsr(attributes: Buffer | undefined): { pem: string; spki: Buffer } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const spki = publicKey.export({ format: 'der', type: 'spki' });
  const name = sequence(tlv(0x31, sequence(objectIdentifier('2.5.4.3'), tlv(0x0c, Buffer.from('handmade')))));
  const info = sequence(tlv(0x02, Buffer.from([0])), name, spki, ...(attributes ? [attributes] : []));
  const sig = sign('sha256', info, privateKey);
  const der = sequence(info, sequence(objectIdentifier('1.2.840.10045.4.3.2')), bitString(sig));
  return { pem: toPem('CERTIFICATE REQUEST', der), spki };
}

const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

describe('checkCsr with hand-made encodings', () => {
  it('the hand-made baseline (empty attributes [0]) is accepted and openssl agrees it verifies', () => {
    const { pem, spki } = handmadeCsr(tlv(0xa0));
    expect(opensslOk(['req', '-noout', '-verify'], pem) + openssl(['req', '-noout', '-verify'], pem).stderr).toMatch(/verify OK/);
    expect(Buffer.from(checkCsr(pem).publicKeySpki).equals(spki)).toBe(true);
  });

  it('accepts a CSR that omits the attributes field altogether (openssl accepts it, @peculiar marks it optional)', () => {
    const { pem, spki } = handmadeCsr(undefined);
    expect(opensslOk(['req', '-noout', '-verify'], pem) + openssl(['req', '-noout', '-verify'], pem).stderr).toMatch(/verify OK/);
    expect(Buffer.from(checkCsr(pem).publicKeySpki).equals(spki)).toBe(true);
  });

  it('refuses an extensionRequest whose value is not a list of extensions with an invalidInput CaError', () => {
    const attr = sequence(objectIdentifier(EXTENSION_REQUEST), tlv(0x31, tlv(0x02, Buffer.from([5]))));
    const { pem } = handmadeCsr(tlv(0xa0, attr));
    expectCaErrorSync(() => checkCsr(pem), 'invalidInput', /CSR/);
  });

  it('refuses a basicConstraints extension with an unparseable value with an invalidInput CaError', () => {
    const ext = sequence(objectIdentifier('2.5.29.19'), tlv(0x04, Buffer.from([0x04, 0x01, 0xff])));
    const attr = sequence(objectIdentifier(EXTENSION_REQUEST), tlv(0x31, sequence(ext)));
    const { pem } = handmadeCsr(tlv(0xa0, attr));
    expectCaErrorSync(() => checkCsr(pem), 'invalidInput', /CSR/);
  });
});
