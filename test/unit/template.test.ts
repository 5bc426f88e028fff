import { describe, it, expect } from 'vitest';
import { generateKeyPairSync, randomInt, sign, X509Certificate } from 'node:crypto';
import { referenceCertificate, referenceTbs } from '../helpers/reference-encoder.js';
import { CLIENT, INTERMEDIATE, ROOT, SPIFFE_CLIENT, serverProfile } from '../../src/domain/profiles.js';
import { generateKeyPair, signatureAlgorithmOf, spkiDer } from '../../src/domain/keys.js';
import { randomSerial } from '../../src/domain/serial.js';
import { CertificateTemplate, ClientTemplate, ecKeyDer, ecKeyDerRaw, generateClientKey, ipAddressOctets, timeDer } from '../../src/domain/template.js';
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import type { KeyType } from '../../src/ports.js';

/**
 * The JWK of a key generateKeyPairSync just made, exported from a copy: Node 20 can deadlock exporting a JWK of
 * the generated key object itself (the export holds the key's mutex while it allocates; a GC then finalises the
 * key generation job, which takes the same mutex). Seen hanging the benchmark; a hung test would stall the suite.
 */
const jwkOfNewKey = (k: KeyObject) => createPrivateKey({ key: k.export({ format: 'der', type: 'pkcs8' }), format: 'der', type: 'pkcs8' }).export({ format: 'jwk' });

const ID_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-';

async function issuer(kt: KeyType) {
  const k = generateKeyPair(kt);
  const signer = { keyType: kt, publicKeySpki: spkiDer(k.publicKey), sign: async (d: Uint8Array) => sign(signatureAlgorithmOf(kt).hash, d, k.privateKey) };
  const now = new Date('2026-01-01T00:00:00Z');
  const root = await referenceCertificate(
    { kind: 'root', serial: randomSerial(), subject: { commonName: 'Ref Root', organization: 'Örg ✓ "quoted"' }, notBefore: now, notAfter: new Date('2080-01-01T00:00:00Z'), publicKeySpki: signer.publicKeySpki },
    signer,
  );
  return { root, signer };
}

const randomId = () => Array.from({ length: randomInt(1, 65) }, () => ID_CHARS[randomInt(ID_CHARS.length)]).join('');
function randomValidity() {
  const notBefore = new Date(randomInt(0, 4_000_000_000) * 1000); // 1970 .. 2096: both UTCTime and GeneralizedTime
  return { notBefore, notAfter: new Date(notBefore.getTime() + randomInt(1, 3_000_000_000) * 1000) };
}

describe('the one certificate builder equals the schema-based reference, byte for byte', () => {
  it.each(['ec-p256', 'ec-p384', 'rsa-2048'] as KeyType[])('issuer %s, 400 random client inputs', async (kt) => {
    const { root, signer } = await issuer(kt);
    const tpl = new ClientTemplate(root.der, kt);
    const keys = ['ec-p256', 'ec-p384', 'rsa-2048'].map((t) => spkiDer(generateKeyPair(t as KeyType).publicKey));
    for (let i = 0; i < 400; i++) {
      const id = randomId();
      const input = {
        serial: randomSerial(),
        commonName: id,
        organization: i % 5 ? `Org ${i} ✓` : undefined,
        ...randomValidity(),
        publicKeySpki: keys[i % 3]!,
        spiffeId: i % 2 ? `spiffe://trust.example/client/${id}` : undefined,
        crlDistributionPoint: i % 3 === 0 ? `https://pki.example.com/crl/${randomSerial()}.crl` : i % 3 === 1 ? `s3://crl-bucket/crl/${id}.crl` : undefined,
      };
      const reference = referenceTbs({ kind: 'client', subject: { commonName: id, organization: input.organization }, ...input }, kt, root.der);
      expect(tpl.tbs(input).equals(reference), `input ${i}: ${JSON.stringify({ ...input, publicKeySpki: undefined })}`).toBe(true);
    }
    // and the assembled certificate parses with Node and verifies under the issuer
    const tbs = tpl.tbs({ serial: randomSerial(), commonName: 'x', notBefore: new Date(), notAfter: new Date(Date.now() + 1e9), publicKeySpki: keys[0]! });
    const cert = new X509Certificate(tpl.certificate(tbs, await signer.sign(tbs)));
    expect(cert.verify(new X509Certificate(root.der).publicKey)).toBe(true);
  });

  it.each(['ec-p256', 'ec-p384', 'rsa-3072'] as KeyType[])('root, intermediate and server profiles under a %s issuer, 60 random inputs each', async (kt) => {
    const { root } = await issuer(kt);
    const underRoot = new CertificateTemplate(root.der, kt);
    const selfSigned = new CertificateTemplate(undefined, kt);
    const keys = (['ec-p256', 'rsa-2048', 'ec-p384'] as KeyType[]).map((t) => ({ t, spki: spkiDer(generateKeyPair(t).publicKey) }));
    const ipPool = ['127.0.0.1', '::1', '10.1.2.3', 'fe80::1:2', '2001:db8::8a2e:370:7334', '::', '1:2:3:4:5:6:7:8'];
    for (let i = 0; i < 60; i++) {
      const key = keys[i % 3]!;
      const base = { serial: randomSerial(), subject: { commonName: `${randomId()} CA`, organization: i % 4 ? `Org ${i}` : undefined }, ...randomValidity(), publicKeySpki: key.spki };
      // a self-signed root is signed with its own key type
      expect(selfSigned.tbs(ROOT, base).equals(referenceTbs({ kind: 'root', ...base }, kt)), `root ${i}`).toBe(true);
      expect(underRoot.tbs(INTERMEDIATE, base).equals(referenceTbs({ kind: 'intermediate', ...base }, kt, root.der)), `intermediate ${i}`).toBe(true);
      const dnsNames = i % 3 ? ['localhost', `h${i}.example`] : [];
      const ipAddresses = ipPool.slice(0, 1 + (i % ipPool.length));
      const server = underRoot.tbs(serverProfile(key.t), { ...base, san: { dns: dnsNames, ip: ipAddresses } });
      expect(server.equals(referenceTbs({ kind: 'server', ...base, dnsNames, ipAddresses, rsaKey: key.t.startsWith('rsa') }, kt, root.der)), `server ${i}`).toBe(true);
    }
  });

  it('puts a CRL distribution point only on the client profiles', () => {
    const tpl = new CertificateTemplate(undefined, 'ec-p256');
    const base = { serial: randomSerial(), subject: { commonName: 'x' }, notBefore: new Date(0), notAfter: new Date(1e12), publicKeySpki: spkiDer(generateKeyPair('ec-p256').publicKey), crlDistributionPoint: 'https://pki.example.com/a.crl' };
    expect(() => tpl.tbs(INTERMEDIATE, base)).toThrow(/carries no CRL distribution point/);
    expect(() => tpl.tbs(serverProfile('ec-p256'), base)).toThrow(/carries no CRL distribution point/);
    expect(tpl.tbs(CLIENT, base).includes(Buffer.from('https://pki.example.com/a.crl'))).toBe(true);
  });

  it('refuses a SAN its profile does not carry, and a SPIFFE certificate without exactly one URI', () => {
    const tpl = new CertificateTemplate(undefined, 'ec-p256');
    const base = { serial: randomSerial(), subject: { commonName: 'x' }, notBefore: new Date(0), notAfter: new Date(1e12), publicKeySpki: spkiDer(generateKeyPair('ec-p256').publicKey) };
    expect(() => tpl.tbs(CLIENT, { ...base, san: { dns: ['a.example'] } })).toThrow(/carries no dns SAN/);
    expect(() => tpl.tbs(SPIFFE_CLIENT, { ...base, san: { uri: ['spiffe://a/b', 'spiffe://a/c'] } })).toThrow(/exactly one URI/);
    expect(() => ipAddressOctets('1.2.3.256')).toThrow();
    expect(() => ipAddressOctets('1::2::3')).toThrow();
    expect(ipAddressOctets('::ffff').toString('hex')).toBe('0000000000000000000000000000ffff');
  });

  it('writes UTCTime through 2049 and GeneralizedTime from 2050 (RFC 5280 4.1.2.5)', () => {
    expect(timeDer(new Date('2049-12-31T23:59:59Z')).toString('latin1')).toBe('\x17\x0d491231235959Z');
    expect(timeDer(new Date('2050-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20500101000000Z');
  });

  it.each(['P-256', 'P-384'])('EC %s keys encoded from JWK equal what KeyObject.export writes', (curve) => {
    for (let i = 0; i < 200; i++) {
      const k = generateKeyPairSync('ec', { namedCurve: curve });
      const e = ecKeyDer(jwkOfNewKey(k.privateKey));
      expect(e.spki.equals(k.publicKey.export({ format: 'der', type: 'spki' }))).toBe(true);
      expect(e.pkcs8!.equals(k.privateKey.export({ format: 'der', type: 'pkcs8' }))).toBe(true);
    }
  });

  it.each(['ec-p256', 'ec-p384', 'rsa-2048'] as KeyType[])('generated %s client keys are valid PKCS#8 whose public key is the SPKI', (kt) => {
    for (let i = 0; i < (kt.startsWith('rsa') ? 3 : 300); i++) {
      const k = generateClientKey(kt);
      const priv = createPrivateKey(k.privateKeyPem);
      expect(createPublicKey(priv).export({ type: 'spki', format: 'der' }).equals(k.spki)).toBe(true);
      const sig = sign(kt === 'ec-p384' ? 'sha384' : 'sha256', Buffer.from('m'), priv);
      expect(sig.length).toBeGreaterThan(0);
      // and Node writes the same PKCS#8 for it (RFC 5915 layout, scalar padded to the curve size)
      expect(priv.export({ type: 'pkcs8', format: 'pem' })).toBe(k.privateKeyPem);
    }
  });

  it('pads a short private scalar to the curve size (RFC 5915)', () => {
    const k = jwkOfNewKey(generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey);
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(k.x!, 'base64url'), Buffer.from(k.y!, 'base64url')]);
    const d = Buffer.from(k.d!, 'base64url');
    const short = d.subarray(1); // as a BN printer would drop a leading zero octet
    const padded = ecKeyDerRaw('P-256', point, short).pkcs8!;
    const inner = Buffer.concat([Buffer.alloc(1), short]);
    expect(padded.includes(Buffer.concat([Buffer.from([0x04, 0x20]), inner]))).toBe(true);
  });
});

