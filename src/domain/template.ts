import { createECDH, createHash } from 'node:crypto';
import type { KeyType } from '../ports.js';
import { bitString, children, objectIdentifier, readTlv, sequence, tlv } from './der.js';
import { generateKeyPair, signatureAlgorithmOf, spkiDer } from './keys.js';
import { toPem } from './der.js';

/**
 * The fast path for client certificates: the TBSCertificate is assembled from byte fragments computed once per
 * issuer and profile, filling in only what varies (serial, validity, subject, key, key identifiers, SAN). It
 * produces exactly the bytes of the schema-based builder in certificate.ts, which stays the reference (a test
 * compares the two over many random inputs).
 */

const OID_CN = objectIdentifier('2.5.4.3');
const OID_O = objectIdentifier('2.5.4.10');
const CRITICAL = Buffer.from([0x01, 0x01, 0xff]);
const ext = (oid: string, critical: boolean, value: Uint8Array) => sequence(objectIdentifier(oid), ...(critical ? [CRITICAL] : []), tlv(0x04, value));

const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
// RFC 5280 4.2.1.9: cA=false is the DEFAULT, so DER omits it: an empty SEQUENCE.
const EXT_BC_CLIENT = ext('2.5.29.19', true, sequence());
// RFC 5280 4.2.1.3: digitalSignature is bit 0; DER drops the 7 unused trailing bits.
const EXT_KU_CLIENT = ext('2.5.29.15', true, Buffer.from([0x03, 0x02, 0x07, 0x80]));
const CLIENT_AUTH = objectIdentifier('1.3.6.1.5.5.7.3.2');
const SERVER_AUTH = objectIdentifier('1.3.6.1.5.5.7.3.1');
const EXT_EKU_CLIENT = ext('2.5.29.37', false, sequence(CLIENT_AUTH));
const EXT_EKU_SPIFFE = ext('2.5.29.37', false, sequence(SERVER_AUTH, CLIENT_AUTH));
const OID_SAN = '2.5.29.17';
const OID_SKI = '2.5.29.14';
const OID_AKI = '2.5.29.35';

/** AlgorithmIdentifier DER for the issuer's signature (RSA with NULL parameters, ECDSA without). */
export function signatureAlgorithmDer(keyType: KeyType): Buffer {
  const { oid } = signatureAlgorithmOf(keyType);
  return keyType.startsWith('rsa') ? sequence(objectIdentifier(oid), Buffer.from([0x05, 0x00])) : sequence(objectIdentifier(oid));
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050; whole seconds, always Z. */
export function timeDer(d: Date): Buffer {
  const iso = d.toISOString();
  const y = d.getUTCFullYear();
  const body = iso.slice(5, 7) + iso.slice(8, 10) + iso.slice(11, 13) + iso.slice(14, 16) + iso.slice(17, 19) + 'Z';
  return y < 2050 ? tlv(0x17, Buffer.from(String(y).slice(2) + body, 'latin1')) : tlv(0x18, Buffer.from(String(y) + body, 'latin1'));
}

function rdn(oid: Buffer, value: string): Buffer {
  return tlv(0x31, sequence(oid, tlv(0x0c, Buffer.from(value, 'utf8'))));
}

/** The subjectPublicKey BIT STRING's content (without the unused-bits octet) of a DER SPKI. */
export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const outer = readTlv(spki, 0);
  const bits = children(spki, outer)[1]!;
  return spki.subarray(bits.valueStart + 1, bits.end);
}

/** RFC 7093 section 2 method 1 key identifier. */
export function keyId(spki: Uint8Array): Buffer {
  return createHash('sha256').update(subjectPublicKeyBits(spki)).digest().subarray(0, 20);
}

/** The issuer's subject Name bytes and SKI, read once from its certificate. */
export function issuerFragments(issuerCertificateDer: Uint8Array): { name: Buffer; keyId: Buffer } {
  const cert = readTlv(issuerCertificateDer, 0);
  const tbs = children(issuerCertificateDer, cert)[0]!;
  const f = children(issuerCertificateDer, tbs);
  // [0] version, serial, signature, issuer, validity, subject, spki, ..., [3] extensions
  const hasVersion = f[0]!.tag === 0xa0;
  const subject = f[hasVersion ? 5 : 4]!;
  const spki = f[hasVersion ? 6 : 5]!;
  let ski: Buffer | undefined;
  const extsWrap = f.find((t) => t.tag === 0xa3);
  if (extsWrap) {
    const exts = children(issuerCertificateDer, children(issuerCertificateDer, extsWrap)[0]!);
    for (const e of exts) {
      const parts = children(issuerCertificateDer, e);
      const oid = Buffer.from(issuerCertificateDer.subarray(parts[0]!.start, parts[0]!.end));
      if (oid.equals(objectIdentifier(OID_SKI))) {
        const octets = parts[parts.length - 1]!;
        const inner = readTlv(issuerCertificateDer, octets.valueStart);
        ski = Buffer.from(issuerCertificateDer.subarray(inner.valueStart, inner.end));
      }
    }
  }
  return {
    name: Buffer.from(issuerCertificateDer.subarray(subject.start, subject.end)),
    keyId: ski ?? keyId(issuerCertificateDer.subarray(spki.start, spki.end)),
  };
}

export interface ClientTbsInput {
  serial: string;
  commonName: string;
  organization?: string;
  notBefore: Date;
  notAfter: Date;
  publicKeySpki: Uint8Array;
  spiffeId?: string;
}

/** Precomputed pieces of one issuer's client profile. */
export class ClientTemplate {
  private readonly head: Buffer;
  private readonly issuerName: Buffer;
  private readonly aki: Buffer;
  readonly signatureAlgorithm: Buffer;

  constructor(
    issuerCertificateDer: Uint8Array,
    readonly signerKeyType: KeyType,
  ) {
    const issuer = issuerFragments(issuerCertificateDer);
    this.signatureAlgorithm = signatureAlgorithmDer(signerKeyType);
    this.head = VERSION_3;
    this.issuerName = issuer.name;
    this.aki = ext(OID_AKI, false, sequence(tlv(0x80, issuer.keyId)));
  }

  /** The TBSCertificate DER of one client certificate. */
  tbs(p: ClientTbsInput): Buffer {
    const subject = sequence(...(p.organization ? [rdn(OID_O, p.organization)] : []), rdn(OID_CN, p.commonName));
    const exts: Buffer[] = [EXT_BC_CLIENT, EXT_KU_CLIENT, p.spiffeId ? EXT_EKU_SPIFFE : EXT_EKU_CLIENT];
    if (p.spiffeId) exts.push(ext(OID_SAN, false, sequence(tlv(0x86, Buffer.from(p.spiffeId, 'latin1')))));
    exts.push(ext(OID_SKI, false, tlv(0x04, keyId(p.publicKeySpki))), this.aki);
    return sequence(
      this.head,
      tlv(0x02, Buffer.from(p.serial, 'hex')),
      this.signatureAlgorithm,
      this.issuerName,
      sequence(timeDer(p.notBefore), timeDer(p.notAfter)),
      subject,
      p.publicKeySpki,
      tlv(0xa3, sequence(...exts)),
    );
  }

  /** Certificate DER from a TBS and its signature. */
  certificate(tbs: Uint8Array, signature: Uint8Array): Buffer {
    return sequence(tbs, this.signatureAlgorithm, bitString(signature));
  }
}

// EC keys: SPKI and PKCS#8 built from the JWK coordinates. OpenSSL 3.0's generic encoders cost more than the
// key generation itself; these fixed layouts are what `KeyObject.export` writes (a test checks byte equality).
const EC_PARAMS: Record<string, { curveOid: string; size: number; ecdh: string }> = {
  'P-256': { curveOid: '1.2.840.10045.3.1.7', size: 32, ecdh: 'prime256v1' },
  'P-384': { curveOid: '1.3.132.0.34', size: 48, ecdh: 'secp384r1' },
};
const ID_EC_PUBLIC_KEY = objectIdentifier('1.2.840.10045.2.1');

/** SPKI (and PKCS#8 when the scalar is given) for an EC key from its uncompressed point and private scalar. */
export function ecKeyDerRaw(crv: string, point: Uint8Array, d?: Uint8Array): { spki: Buffer; pkcs8?: Buffer } {
  const params = EC_PARAMS[crv];
  if (!params || point.length !== 1 + 2 * params.size || point[0] !== 0x04) throw new Error(`unsupported EC key ${crv}`);
  const algId = sequence(ID_EC_PUBLIC_KEY, objectIdentifier(params.curveOid));
  const spki = sequence(algId, bitString(point));
  if (!d) return { spki };
  // RFC 5915: the private key is an octet string of the curve's size, so a short scalar is left-padded.
  const scalar = Buffer.alloc(params.size);
  Buffer.from(d).copy(scalar, params.size - d.length);
  // RFC 5915 ECPrivateKey inside RFC 5208 PrivateKeyInfo; the curve is named in the outer AlgorithmIdentifier.
  const ecPrivateKey = sequence(Buffer.from([0x02, 0x01, 0x01]), tlv(0x04, scalar), tlv(0xa1, bitString(point)));
  const pkcs8 = sequence(Buffer.from([0x02, 0x01, 0x00]), algId, tlv(0x04, ecPrivateKey));
  return { spki, pkcs8 };
}

export function ecKeyDer(jwk: { crv?: string; x?: string; y?: string; d?: string }): { spki: Buffer; pkcs8?: Buffer } {
  if (!jwk.x || !jwk.y) throw new Error(`unsupported EC key ${jwk.crv}`);
  const point = Buffer.concat([Buffer.from([0x04]), Buffer.from(jwk.x, 'base64url'), Buffer.from(jwk.y, 'base64url')]);
  return ecKeyDerRaw(jwk.crv ?? '', point, jwk.d ? Buffer.from(jwk.d, 'base64url') : undefined);
}

/** A new client key: SPKI DER and PKCS#8 PEM (EC built from the raw key, RSA through Node's encoder). */
export function generateClientKey(keyType: KeyType): { spki: Buffer; privateKeyPem: string } {
  if (keyType.startsWith('ec')) {
    // The ECDH key generator yields the same kind of key (a random scalar and its point) at several times the
    // rate of generateKeyPairSync, which goes through OpenSSL 3.0's slower provider path.
    const crv = keyType === 'ec-p256' ? 'P-256' : 'P-384';
    const ecdh = createECDH(EC_PARAMS[crv]!.ecdh);
    ecdh.generateKeys();
    const { spki, pkcs8 } = ecKeyDerRaw(crv, ecdh.getPublicKey(), ecdh.getPrivateKey());
    return { spki, privateKeyPem: toPem('PRIVATE KEY', pkcs8!) };
  }
  const { privateKey, publicKey } = generateKeyPair(keyType);
  return { spki: spkiDer(publicKey), privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string };
}
