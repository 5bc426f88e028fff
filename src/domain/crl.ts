import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  CRLNumber,
  CRLReason,
  CRLReasons,
  Certificate,
  CertificateList,
  Extension,
  KeyIdentifier,
  RevokedCertificate,
  TBSCertList,
  Time,
  Version,
  id_ce_authorityKeyIdentifier,
  id_ce_cRLNumber,
  id_ce_cRLReasons,
} from '@peculiar/asn1-x509';
import type { KeyType, RevocationReason } from '../ports.js';
import { toPem } from './der.js';
import { CaError } from './errors.js';
import { issuerFragments, signatureAlgorithmDer } from './template.js';

/**
 * The one CRL builder: an RFC 5280 section 5 CertificateList (v2) of one issuing CA, encoded through the ASN.1
 * schemas of @peculiar/asn1-x509. Unlike certificates there is one CRL per issuer and run, so no hand-made DER
 * fast path is needed.
 */

/** One revoked certificate on a CRL. */
export interface CrlEntry {
  /** lowercase hex, the DER INTEGER's content octets (as the registry keeps it) */
  serial: string;
  revokedAt: Date;
  reason?: RevocationReason;
}

/** What one CRL is made from. */
export interface CrlInput {
  /** DER of the issuing CA's certificate: its subject is the CRL's issuer (byte for byte), its SKI the CRL's AKI */
  issuerCertificateDer: Uint8Array;
  /** the signing key's type, which decides the signature algorithm */
  keyType: KeyType;
  crlNumber: number;
  thisUpdate: Date;
  nextUpdate: Date;
  revoked: CrlEntry[];
}

const ext = (extnID: string, value: unknown) => new Extension({ extnID, critical: false, extnValue: new OctetString(AsnConvert.serialize(value)) });

const internal = (m: string) => new CaError('internal', m);

/** A serial's INTEGER content octets: even length, and a leading zero octet where the top bit is set (positive). */
function serialOctets(serial: string): ArrayBuffer {
  let hex = serial.length % 2 ? '0' + serial : serial;
  if (parseInt(hex.slice(0, 2), 16) >= 0x80) hex = '00' + hex;
  return new Uint8Array(Buffer.from(hex, 'hex')).buffer;
}

/** X.509 times have whole seconds. */
const seconds = (d: Date) => new Date(Math.floor(d.getTime() / 1000) * 1000);

/**
 * The TBSCertList DER of a CRL. Entries are sorted by serial so that the same state gives the same list; an
 * entry's reasonCode is left out for `unspecified`, as RFC 5280 5.3.1 asks.
 * @throws CaError internal when the issuer's name would not be repeated byte for byte
 */
export function crlTbs(input: CrlInput): Buffer {
  if (!Number.isSafeInteger(input.crlNumber) || input.crlNumber < 1) throw internal(`invalid CRL number ${input.crlNumber}`);
  const issuerCert = AsnConvert.parse(input.issuerCertificateDer, Certificate);
  const fragments = issuerFragments(input.issuerCertificateDer);
  const signature = AsnConvert.parse(signatureAlgorithmDer(input.keyType), AlgorithmIdentifier);
  const revoked = [...input.revoked]
    .sort((a, b) => a.serial.padStart(64, '0').localeCompare(b.serial.padStart(64, '0')))
    .map(
      (e) =>
        new RevokedCertificate({
          userCertificate: serialOctets(e.serial),
          // RFC 5280 5.1.2.6 and 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050 (Time picks by year)
          revocationDate: new Time(seconds(e.revokedAt)),
          ...(e.reason && e.reason !== 'unspecified' ? { crlEntryExtensions: [ext(id_ce_cRLReasons, new CRLReason(CRLReasons[e.reason]))] } : {}),
        }),
    );
  const tbs = new TBSCertList({
    version: Version.v2,
    signature,
    issuer: issuerCert.tbsCertificate.subject,
    thisUpdate: new Time(seconds(input.thisUpdate)),
    nextUpdate: new Time(seconds(input.nextUpdate)),
    ...(revoked.length ? { revokedCertificates: revoked } : {}),
    crlExtensions: [
      ext(id_ce_authorityKeyIdentifier, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(new Uint8Array(fragments.keyId).buffer) })),
      ext(id_ce_cRLNumber, new CRLNumber(input.crlNumber)),
    ],
  });
  const der = Buffer.from(AsnConvert.serialize(tbs));
  // RFC 5280 5.1.2.3: the issuer field must equal the issuer's subject; path builders compare the encodings
  const parsedIssuer = Buffer.from(AsnConvert.serialize(AsnConvert.parse(der, TBSCertList).issuer));
  if (!parsedIssuer.equals(fragments.name)) throw internal('the CRL issuer name does not repeat the CA certificate\'s subject byte for byte');
  return der;
}

/** The CertificateList DER from a TBSCertList and its signature (RFC 5280 5.1). */
export function crlDer(tbs: Uint8Array, signature: Uint8Array, keyType: KeyType): Buffer {
  const list = new CertificateList({
    tbsCertList: AsnConvert.parse(tbs, TBSCertList),
    signatureAlgorithm: AsnConvert.parse(signatureAlgorithmDer(keyType), AlgorithmIdentifier),
    signature: new Uint8Array(signature).buffer,
  });
  const der = Buffer.from(AsnConvert.serialize(list));
  // the signed bytes are the TBS as given: a re-encoding that differed would break the signature
  if (!der.includes(Buffer.from(tbs))) throw internal('the CRL re-encoded its signed part differently');
  return der;
}

export const crlPem = (der: Uint8Array) => toPem('X509 CRL', der);

/** What a published CRL says, read back (to tell whether it is current). */
export interface CrlFacts {
  crlNumber?: number;
  thisUpdate: Date;
  nextUpdate?: Date;
  /** lowercase hex serials, no leading zero octets */
  serials: string[];
}

/** Reads the facts of a DER CRL. @throws Error when it is not one */
export function crlFacts(der: Uint8Array): CrlFacts {
  const list = AsnConvert.parse(der, CertificateList);
  const t = list.tbsCertList;
  const numberExt = t.crlExtensions?.find((e) => e.extnID === id_ce_cRLNumber);
  const crlNumber = numberExt ? Number(AsnConvert.parse(numberExt.extnValue, CRLNumber).value) : undefined;
  return {
    crlNumber,
    thisUpdate: t.thisUpdate.getTime(),
    nextUpdate: t.nextUpdate?.getTime(),
    serials: (t.revokedCertificates ?? []).map((r) => Buffer.from(r.userCertificate).toString('hex').replace(/^(00)+(?=.)/, '')),
  };
}
