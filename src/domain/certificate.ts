import { X509Certificate } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  GeneralName,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  Name,
  RelativeDistinguishedName,
  SubjectAlternativeName,
  SubjectKeyIdentifier,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import type { CaSigner, CertKind, KeyType } from '../ports.js';
import { bitString, derNull, sequence, toPem } from './der.js';
import { keyIdentifier, sha256Hex, signatureAlgorithmOf } from './keys.js';

const OID_CN = '2.5.4.3';
const OID_O = '2.5.4.10';

export interface SubjectSpec {
  commonName: string;
  organization?: string;
}

/** Everything that varies between two certificates of one profile. */
export interface CertificateParams {
  kind: CertKind;
  serial: string;
  subject: SubjectSpec;
  notBefore: Date;
  notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key */
  publicKeySpki: Uint8Array;
  /** the issuer's certificate (DER); absent for a self-signed root */
  issuerCertificate?: Uint8Array;
  /** client only: SPIFFE ID to carry as the single URI SAN */
  spiffeId?: string;
}

export interface IssuedCertificate {
  der: Buffer;
  pem: string;
  fingerprint: string;
  subject: string;
}

/** RFC 4514-like one-line form, most significant RDN last as people usually write it: `CN=x, O=y`. */
export function formatSubject(s: SubjectSpec): string {
  return s.organization ? `CN=${s.commonName}, O=${s.organization}` : `CN=${s.commonName}`;
}

function buildName(s: SubjectSpec): Name {
  const rdn = (type: string, value: string) =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
  const rdns = [];
  if (s.organization) rdns.push(rdn(OID_O, s.organization));
  rdns.push(rdn(OID_CN, s.commonName));
  return new Name(rdns);
}

function ext(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  return new Uint8Array(info.subjectPublicKey);
}

/**
 * The RFC 5280 profiles: root and issuing intermediate (CA, keyCertSign+cRLSign, pathLen 0 below the root),
 * client (not a CA, digitalSignature, EKU clientAuth; with a SPIFFE ID exactly one URI SAN and, as the
 * X.509-SVID spec requires when EKU is present, both serverAuth and clientAuth).
 */
function profileExtensions(p: CertificateParams, authorityKeyId: Uint8Array): Extension[] {
  const ski = keyIdentifier(subjectPublicKeyBits(p.publicKeySpki));
  const exts: Extension[] = [];
  if (p.kind === 'client') {
    exts.push(ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })));
    exts.push(ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)));
    const ekus = p.spiffeId ? [id_kp_serverAuth, id_kp_clientAuth] : [id_kp_clientAuth];
    exts.push(ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage(ekus)));
    if (p.spiffeId) {
      exts.push(ext(id_ce_subjectAltName, false, new SubjectAlternativeName([new GeneralName({ uniformResourceIdentifier: p.spiffeId })])));
    }
  } else {
    const bc = p.kind === 'intermediate' ? new BasicConstraints({ cA: true, pathLenConstraint: 0 }) : new BasicConstraints({ cA: true });
    exts.push(ext(id_ce_basicConstraints, true, bc));
    exts.push(ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)));
  }
  exts.push(ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ski)));
  exts.push(ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(authorityKeyId) })));
  return exts;
}

/** The O= of a certificate's subject: clients carry their CA's organization, fixed at bootstrap. */
export function subjectOrganization(certificateDer: Uint8Array): string | undefined {
  const name = AsnConvert.parse(certificateDer, Certificate).tbsCertificate.subject;
  for (const rdn of name) for (const atv of rdn) if (atv.type === OID_O) return atv.value.toString();
  return undefined;
}

export function signatureAlgorithmIdentifier(keyType: KeyType): AlgorithmIdentifier {
  const alg = signatureAlgorithmOf(keyType);
  // RFC 4055: RSA PKCS#1 v1.5 identifiers carry NULL parameters; RFC 5758: ECDSA ones carry none.
  return keyType.startsWith('rsa')
    ? new AlgorithmIdentifier({ algorithm: alg.oid, parameters: new Uint8Array(derNull()).buffer })
    : new AlgorithmIdentifier({ algorithm: alg.oid });
}

/** The parts of an issuer certificate a child needs: its subject Name and its key identifier. */
export interface IssuerInfo {
  name: Name;
  keyId: Uint8Array;
}

export function issuerInfo(issuerCertificateDer: Uint8Array): IssuerInfo {
  const cert = AsnConvert.parse(issuerCertificateDer, Certificate);
  const tbs = cert.tbsCertificate;
  const skiExt = tbs.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const keyId = skiExt
    ? new Uint8Array(AsnConvert.parse(skiExt.extnValue, SubjectKeyIdentifier).buffer)
    : keyIdentifier(new Uint8Array(tbs.subjectPublicKeyInfo.subjectPublicKey));
  return { name: tbs.subject, keyId };
}

/** Builds the TBSCertificate DER for a profile. Pure; the signature is the signer's business. */
export function buildTbs(p: CertificateParams, signerKeyType: KeyType, issuer?: IssuerInfo): Buffer {
  const subjectName = buildName(p.subject);
  const selfKeyId = keyIdentifier(subjectPublicKeyBits(p.publicKeySpki));
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(Buffer.from(p.serial, 'hex')).buffer,
    signature: signatureAlgorithmIdentifier(signerKeyType),
    issuer: issuer ? issuer.name : subjectName,
    validity: new Validity({ notBefore: p.notBefore, notAfter: p.notAfter }),
    subject: subjectName,
    subjectPublicKeyInfo: AsnConvert.parse(p.publicKeySpki, SubjectPublicKeyInfo),
    extensions: new Extensions(profileExtensions(p, issuer ? issuer.keyId : selfKeyId)),
  });
  return Buffer.from(AsnConvert.serialize(tbs));
}

/** Wraps a TBSCertificate and its signature into the Certificate DER (RFC 5280 4.1). */
export function assembleCertificate(tbsDer: Uint8Array, keyType: KeyType, signature: Uint8Array): Buffer {
  const algId = Buffer.from(AsnConvert.serialize(signatureAlgorithmIdentifier(keyType)));
  return sequence(tbsDer, algId, bitString(signature));
}

/** Builds and signs a certificate of the given profile. */
export async function issueCertificate(p: CertificateParams, signer: CaSigner): Promise<IssuedCertificate> {
  const issuer = p.issuerCertificate ? issuerInfo(p.issuerCertificate) : undefined;
  const tbs = buildTbs(p, signer.keyType, issuer);
  const der = assembleCertificate(tbs, signer.keyType, await signer.sign(tbs));
  return { der, pem: toPem('CERTIFICATE', der), fingerprint: sha256Hex(der), subject: formatSubject(p.subject) };
}

/** Parsed facts of a certificate, read with Node's own X.509 support. */
export interface CertificateFacts {
  serial: string;
  fingerprint: string;
  subject: string;
  issuer: string;
  notBefore: Date;
  notAfter: Date;
  isCa: boolean;
  der: Buffer;
  x509: X509Certificate;
}

/** Node prints DNs one RDN per line, most significant first; we show them `CN=…, O=…`. */
export function formatNodeDn(dn: string): string {
  return dn.split('\n').filter(Boolean).reverse().join(', ');
}

export function certificateFacts(pemOrDer: string | Uint8Array): CertificateFacts {
  const x = new X509Certificate(typeof pemOrDer === 'string' ? pemOrDer : Buffer.from(pemOrDer));
  return {
    serial: x.serialNumber.toLowerCase().replace(/^0+(?=.)/, ''),
    fingerprint: x.fingerprint256.replace(/:/g, '').toLowerCase(),
    subject: formatNodeDn(x.subject),
    issuer: formatNodeDn(x.issuer),
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    isCa: x.ca,
    der: x.raw,
    x509: x,
  };
}
