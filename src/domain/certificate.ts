import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';

const OID_O = '2.5.4.10';

export interface SubjectSpec {
  commonName: string;
  organization?: string;
}

/** RFC 4514-like one-line form, most significant RDN last as people usually write it: `CN=x, O=y`. */
export function formatSubject(s: SubjectSpec): string {
  return s.organization ? `CN=${s.commonName}, O=${s.organization}` : `CN=${s.commonName}`;
}

/** The O= of a certificate's subject: clients carry their CA's organization, fixed at bootstrap. */
export function subjectOrganization(certificateDer: Uint8Array): string | undefined {
  const name = AsnConvert.parse(certificateDer, Certificate).tbsCertificate.subject;
  for (const rdn of name) for (const atv of rdn) if (atv.type === OID_O) return atv.value.toString();
  return undefined;
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
