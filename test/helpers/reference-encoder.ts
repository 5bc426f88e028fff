/**
 * The test oracle for the certificate builder (src/domain/template.ts): an independent, schema-based encoder
 * (@peculiar/asn1-x509) that writes each RFC 5280 profile as this project documents it (README "Certificates"),
 * with its own OIDs and key identifier computation. The builder must produce exactly these bytes.
 */
import { createHash } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  CRLDistributionPoints,
  Certificate,
  DistributionPoint,
  DistributionPointName,
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
  id_ce_cRLDistributionPoints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectAltName,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import type { KeyType } from '../../src/ports.js';

export interface ReferenceParams {
  kind: 'root' | 'intermediate' | 'client' | 'server';
  serial: string;
  subject: { commonName: string; organization?: string };
  notBefore: Date;
  notAfter: Date;
  publicKeySpki: Uint8Array;
  /** client: the SPIFFE ID, the single URI SAN */
  spiffeId?: string;
  /** client: the CRL distribution point URL (RFC 5280 4.2.1.13: one DistributionPoint, fullName one URI) */
  crlDistributionPoint?: string;
  /** server: SANs, and whether its key is RSA (keyEncipherment) */
  dnsNames?: string[];
  ipAddresses?: string[];
  rsaKey?: boolean;
}

const SIGNATURE_OIDS: Record<KeyType, string> = {
  'ec-p256': '1.2.840.10045.4.3.2', // ecdsa-with-SHA256
  'ec-p384': '1.2.840.10045.4.3.3', // ecdsa-with-SHA384
  'rsa-2048': '1.2.840.113549.1.1.11', // sha256WithRSAEncryption
  'rsa-3072': '1.2.840.113549.1.1.11',
  'rsa-4096': '1.2.840.113549.1.1.11',
};

function algorithm(kt: KeyType): AlgorithmIdentifier {
  // RFC 4055: RSA identifiers carry NULL parameters; RFC 5758: ECDSA ones carry none
  return kt.startsWith('rsa') ? new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS[kt], parameters: new Uint8Array([5, 0]).buffer }) : new AlgorithmIdentifier({ algorithm: SIGNATURE_OIDS[kt] });
}

function name(s: ReferenceParams['subject']): Name {
  const rdn = (type: string, value: string) => new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
  return new Name([...(s.organization ? [rdn('2.5.4.10', s.organization)] : []), rdn('2.5.4.3', s.commonName)]);
}

const ext = (extnID: string, critical: boolean, value: unknown) => new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });

/** RFC 7093 2 method 1 over the subjectPublicKey bits, computed from the parsed SPKI. */
function keyId(spki: Uint8Array): Uint8Array {
  const bits = new Uint8Array(AsnConvert.parse(spki, SubjectPublicKeyInfo).subjectPublicKey);
  return new Uint8Array(createHash('sha256').update(bits).digest().subarray(0, 20));
}

function extensions(p: ReferenceParams, aki: Uint8Array): Extension[] {
  const out: Extension[] = [];
  if (p.kind === 'root' || p.kind === 'intermediate') {
    out.push(ext(id_ce_basicConstraints, true, p.kind === 'intermediate' ? new BasicConstraints({ cA: true, pathLenConstraint: 0 }) : new BasicConstraints({ cA: true })));
    out.push(ext(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)));
  } else {
    out.push(ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })));
    const ku = p.kind === 'server' && p.rsaKey ? KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment : KeyUsageFlags.digitalSignature;
    out.push(ext(id_ce_keyUsage, true, new KeyUsage(ku)));
    const eku = p.kind === 'server' ? [id_kp_serverAuth] : p.spiffeId ? [id_kp_serverAuth, id_kp_clientAuth] : [id_kp_clientAuth];
    out.push(ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage(eku)));
    const san = [
      ...(p.spiffeId ? [new GeneralName({ uniformResourceIdentifier: p.spiffeId })] : []),
      ...(p.dnsNames ?? []).map((dNSName) => new GeneralName({ dNSName })),
      ...(p.ipAddresses ?? []).map((iPAddress) => new GeneralName({ iPAddress })),
    ];
    if (san.length) out.push(ext(id_ce_subjectAltName, false, new SubjectAlternativeName(san)));
    if (p.crlDistributionPoint) {
      const dp = new DistributionPoint({ distributionPoint: new DistributionPointName({ fullName: [new GeneralName({ uniformResourceIdentifier: p.crlDistributionPoint })] }) });
      out.push(ext(id_ce_cRLDistributionPoints, false, new CRLDistributionPoints([dp])));
    }
  }
  out.push(ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyId(p.publicKeySpki))));
  out.push(ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(aki) })));
  return out;
}

/** The reference TBSCertificate DER; `issuerDer` absent: self-signed. */
export function referenceTbs(p: ReferenceParams, signerKeyType: KeyType, issuerDer?: Uint8Array): Buffer {
  const subject = name(p.subject);
  let issuerName = subject;
  let aki = keyId(p.publicKeySpki);
  if (issuerDer) {
    const tbs = AsnConvert.parse(issuerDer, Certificate).tbsCertificate;
    issuerName = tbs.subject;
    const ski = tbs.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
    aki = ski ? new Uint8Array(AsnConvert.parse(ski.extnValue, SubjectKeyIdentifier).buffer) : keyId(AsnConvert.serialize(tbs.subjectPublicKeyInfo) as unknown as Uint8Array);
  }
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(Buffer.from(p.serial, 'hex')).buffer,
    signature: algorithm(signerKeyType),
    issuer: issuerName,
    validity: new Validity({ notBefore: p.notBefore, notAfter: p.notAfter }),
    subject,
    subjectPublicKeyInfo: AsnConvert.parse(p.publicKeySpki, SubjectPublicKeyInfo),
    extensions: new Extensions(extensions(p, aki)),
  });
  return Buffer.from(AsnConvert.serialize(tbs));
}

/** A signed reference certificate (for test CAs). */
export async function referenceCertificate(
  p: ReferenceParams,
  signer: { keyType: KeyType; sign(d: Uint8Array): Promise<Uint8Array> },
  issuerDer?: Uint8Array,
): Promise<{ der: Buffer; pem: string }> {
  const tbs = referenceTbs(p, signer.keyType, issuerDer);
  const cert = new Certificate({ tbsCertificate: AsnConvert.parse(tbs, TBSCertificate), signatureAlgorithm: algorithm(signer.keyType), signatureValue: new Uint8Array(await signer.sign(tbs)).buffer });
  const der = Buffer.from(AsnConvert.serialize(cert));
  return { der, pem: `-----BEGIN CERTIFICATE-----\n${der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '')}\n-----END CERTIFICATE-----\n` };
}
