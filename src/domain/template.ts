import { createECDH } from 'node:crypto';
import type { KeyType } from '../ports.js';
import { bitString, children, objectIdentifier, readTlv, sequence, tlv } from './der.js';
import { generateKeyPair, keyIdentifier, signatureAlgorithmOf, spkiDer } from './keys.js';
import { toPem } from './der.js';
import { KEY_USAGE_BITS, SPIFFE_CLIENT, clientProfile, type CertificateProfile, type ExtKeyUsageName, type KeyUsageName } from './profiles.js';

/**
 * The one certificate builder: a TBSCertificate assembled from DER fragments, for every profile in profiles.ts
 * (root, intermediate, client, SPIFFE client, server). Per issuer, its name and key identifier are computed
 * once; per profile, its constant extensions; per certificate only what varies (serial, validity, subject,
 * key, key identifier, SANs). Hand-assembled rather than through the ASN.1 schema library because that is
 * what keeps issuance ahead of Python's cryptography in `npm run bench` (issuance rows); the schema-based
 * encoder in test/helpers/reference-encoder.ts is the oracle it must equal byte for byte (test/unit/template.test.ts).
 */

const OID_CN = objectIdentifier('2.5.4.3');
const OID_O = objectIdentifier('2.5.4.10');
const CRITICAL = Buffer.from([0x01, 0x01, 0xff]);
const ext = (oid: string, critical: boolean, value: Uint8Array) => sequence(objectIdentifier(oid), ...(critical ? [CRITICAL] : []), tlv(0x04, value));

const VERSION_3 = Buffer.from([0xa0, 0x03, 0x02, 0x01, 0x02]);
const EKU_OIDS: Record<ExtKeyUsageName, Buffer> = { serverAuth: objectIdentifier('1.3.6.1.5.5.7.3.1'), clientAuth: objectIdentifier('1.3.6.1.5.5.7.3.2') };
const OID_BC = '2.5.29.19';
const OID_KU = '2.5.29.15';
const OID_EKU = '2.5.29.37';
const OID_SAN = '2.5.29.17';
const OID_SKI = '2.5.29.14';
const OID_AKI = '2.5.29.35';
const OID_CDP = '2.5.29.31';

/**
 * RFC 5280 4.2.1.13: CRLDistributionPoints with one DistributionPoint whose distributionPoint is [0] (a CHOICE,
 * so explicitly tagged) holding fullName [0] (implicit GeneralNames) with one uniformResourceIdentifier [6].
 */
function crlDistributionPointDer(p: CertificateProfile, url: string | undefined): Buffer | undefined {
  if (url === undefined) return undefined;
  if (!p.crlDistributionPoint) throw new Error(`the ${p.name} profile carries no CRL distribution point`);
  return ext(OID_CDP, false, sequence(sequence(tlv(0xa0, tlv(0xa0, tlv(0x86, Buffer.from(url, 'latin1')))))));
}

/** AlgorithmIdentifier DER for the issuer's signature (RSA with NULL parameters, ECDSA without). */
export function signatureAlgorithmDer(keyType: KeyType): Buffer {
  const { oid } = signatureAlgorithmOf(keyType);
  // RFC 4055: RSA PKCS#1 v1.5 identifiers carry NULL parameters; RFC 5758: ECDSA ones carry none.
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

/** Subject names: CN and, when given, O (O first, the most significant RDN, as DER orders them). */
export interface SubjectNames {
  commonName: string;
  organization?: string;
}

function nameDer(s: SubjectNames): Buffer {
  return sequence(...(s.organization ? [rdn(OID_O, s.organization)] : []), rdn(OID_CN, s.commonName));
}

/** RFC 5280 4.2.1.3: a named-bit BIT STRING in DER drops trailing zero bits and says how many it dropped. */
function keyUsageDer(names: readonly KeyUsageName[]): Buffer {
  const bits = names.map((n) => KEY_USAGE_BITS[n]);
  const top = Math.max(...bits);
  const bytes = Buffer.alloc(Math.floor(top / 8) + 1);
  for (const b of bits) bytes[b >> 3]! |= 0x80 >> (b & 7);
  return tlv(0x03, Buffer.from([7 - (top & 7)]), bytes);
}

/** The extensions a profile always carries the same way: basicConstraints, keyUsage, extendedKeyUsage. */
function fixedExtensions(p: CertificateProfile): Buffer[] {
  const bc = p.basicConstraints;
  // RFC 5280 4.2.1.9: cA=false is the DEFAULT, so DER omits it (an empty SEQUENCE).
  const bcValue = bc.ca ? sequence(Buffer.from([0x01, 0x01, 0xff]), ...(bc.pathLen !== undefined ? [tlv(0x02, Buffer.from([bc.pathLen]))] : [])) : sequence();
  const out = [ext(OID_BC, true, bcValue), ext(OID_KU, true, keyUsageDer(p.keyUsage))];
  if (p.extKeyUsage) out.push(ext(OID_EKU, false, sequence(...p.extKeyUsage.map((e) => EKU_OIDS[e]))));
  return out;
}
const fixedCache = new WeakMap<CertificateProfile, Buffer[]>();

/** IPv4 or IPv6 text as the 4 or 16 octets of a GeneralName iPAddress (RFC 5280 4.2.1.6). */
export function ipAddressOctets(ip: string): Buffer {
  if (/^\d{1,3}(\.\d{1,3}){3}$/.test(ip)) {
    const parts = ip.split('.').map(Number);
    if (parts.every((n) => n <= 255)) return Buffer.from(parts);
  } else if (/^[0-9a-fA-F:]+$/.test(ip) && ip.split('::').length <= 2) {
    const [head, tail] = ip.includes('::') ? ip.split('::') : [ip, undefined];
    const groups = (g: string | undefined) => (g ? g.split(':') : []);
    const h = groups(head);
    const t = groups(tail);
    const fill = tail === undefined ? 0 : 8 - h.length - t.length;
    const all = [...h, ...Array(Math.max(fill, 0)).fill('0'), ...t];
    if (all.length === 8 && all.every((g) => g.length >= 1 && g.length <= 4) && fill >= (tail === undefined ? 0 : 1)) {
      const out = Buffer.alloc(16);
      all.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
      return out;
    }
  }
  throw new Error(`not an IP address: ${ip}`);
}

/** Subject alternative names of one certificate; each kind must be one its profile carries. */
export interface SubjectAltNames {
  uri?: string[];
  dns?: string[];
  ip?: string[];
}

function sanDer(p: CertificateProfile, san: SubjectAltNames | undefined): Buffer | undefined {
  const kinds = p.subjectAltName ?? [];
  for (const k of Object.keys(san ?? {}) as (keyof SubjectAltNames)[]) {
    if (san![k]?.length && !kinds.includes(k)) throw new Error(`the ${p.name} profile carries no ${k} SAN`);
  }
  // SPIFFE X.509-SVID 2: exactly one URI SAN
  if (p === SPIFFE_CLIENT && san?.uri?.length !== 1) throw new Error('a SPIFFE client certificate carries exactly one URI SAN');
  const names = [
    ...(san?.uri ?? []).map((u) => tlv(0x86, Buffer.from(u, 'latin1'))),
    ...(san?.dns ?? []).map((d) => tlv(0x82, Buffer.from(d, 'latin1'))),
    ...(san?.ip ?? []).map((a) => tlv(0x87, ipAddressOctets(a))),
  ];
  return names.length ? ext(OID_SAN, false, sequence(...names)) : undefined;
}

/** What varies between two certificates of one profile. */
export interface TbsInput {
  serial: string;
  subject: SubjectNames;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key */
  publicKeySpki: Uint8Array;
  san?: SubjectAltNames;
  /** the CRL distribution point URL (expanded), on a profile that may carry one */
  crlDistributionPoint?: string;
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
    keyId: ski ?? keyIdentifier(issuerCertificateDer.subarray(spki.start, spki.end)),
  };
}

const akiExt = (keyId: Uint8Array) => ext(OID_AKI, false, sequence(tlv(0x80, keyId)));

/** One issuer's certificates: its name and key identifier computed once. Without an issuer: self-signed. */
export class CertificateTemplate {
  readonly signatureAlgorithm: Buffer;
  private readonly issuerName?: Buffer;
  private readonly aki?: Buffer;

  constructor(
    issuerCertificateDer: Uint8Array | undefined,
    readonly signerKeyType: KeyType,
  ) {
    this.signatureAlgorithm = signatureAlgorithmDer(signerKeyType);
    if (issuerCertificateDer) {
      const issuer = issuerFragments(issuerCertificateDer);
      this.issuerName = issuer.name;
      this.aki = akiExt(issuer.keyId);
    }
  }

  /** The TBSCertificate DER of one certificate of `profile`. */
  tbs(profile: CertificateProfile, p: TbsInput): Buffer {
    const subject = nameDer(p.subject);
    const ski = keyIdentifier(p.publicKeySpki);
    let fixed = fixedCache.get(profile);
    if (!fixed) fixedCache.set(profile, (fixed = fixedExtensions(profile)));
    const san = sanDer(profile, p.san);
    const cdp = crlDistributionPointDer(profile, p.crlDistributionPoint);
    // a self-signed certificate's AKI is its own SKI (RFC 5280 4.2.1.1 allows it and path builders use it)
    const exts = [...fixed, ...(san ? [san] : []), ...(cdp ? [cdp] : []), ext(OID_SKI, false, tlv(0x04, ski)), this.aki ?? akiExt(ski)];
    return sequence(
      VERSION_3,
      tlv(0x02, Buffer.from(p.serial, 'hex')),
      this.signatureAlgorithm,
      this.issuerName ?? subject,
      sequence(timeDer(p.notBefore), timeDer(p.notAfter)),
      subject,
      p.publicKeySpki,
      tlv(0xa3, sequence(...exts)),
    );
  }

  /** Certificate DER from a TBS and its signature (RFC 5280 4.1). */
  certificate(tbs: Uint8Array, signature: Uint8Array): Buffer {
    return sequence(tbs, this.signatureAlgorithm, bitString(signature));
  }
}

/** What a client certificate is made from (the hot path of rotation and provisioning, on worker threads too). */
export interface ClientTbsInput {
  serial: string;
  commonName: string;
  organization?: string;
  notBefore: Date;
  notAfter: Date;
  publicKeySpki: Uint8Array;
  spiffeId?: string;
  /** the CRL distribution point URL, already expanded for this issuer */
  crlDistributionPoint?: string;
}

/** One issuer's client certificates: the client profile (or the SPIFFE one) through the one builder. */
export class ClientTemplate {
  private readonly template: CertificateTemplate;
  constructor(issuerCertificateDer: Uint8Array, signerKeyType: KeyType) {
    this.template = new CertificateTemplate(issuerCertificateDer, signerKeyType);
  }

  tbs(p: ClientTbsInput): Buffer {
    return this.template.tbs(clientProfile(!!p.spiffeId), {
      serial: p.serial,
      subject: { commonName: p.commonName, organization: p.organization },
      notBefore: p.notBefore,
      notAfter: p.notAfter,
      publicKeySpki: p.publicKeySpki,
      ...(p.spiffeId ? { san: { uri: [p.spiffeId] } } : {}),
      ...(p.crlDistributionPoint ? { crlDistributionPoint: p.crlDistributionPoint } : {}),
    });
  }

  certificate(tbs: Uint8Array, signature: Uint8Array): Buffer {
    return this.template.certificate(tbs, signature);
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
