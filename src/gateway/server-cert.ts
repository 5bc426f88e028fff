/**
 * A TLS server certificate for the local gateway, issued by the CA's issuing intermediate. The domain's
 * client profile carries EKU clientAuth only, so the serverAuth profile lives here. CLI-side: @peculiar is fine.
 */
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AttributeTypeAndValue,
  AttributeValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
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
  id_kp_serverAuth,
} from '@peculiar/asn1-x509';
import { isIP } from 'node:net';
import type { KeyType } from '../ports.js';
import type { OperationContext } from '../domain/context.js';
import { assembleCertificate, issuerInfo, signatureAlgorithmIdentifier } from '../domain/certificate.js';
import { pemBlocks, toPem } from '../domain/der.js';
import { invalidInput } from '../domain/errors.js';
import { openIssuer } from '../domain/issuance.js';
import { generateKeyPair, keyIdentifier, sha256Hex, spkiDer } from '../domain/keys.js';
import { BACKDATE_MS, DAY_MS } from '../domain/policy.js';
import { randomSerial } from '../domain/serial.js';

export interface IssueServerCertificateOptions {
  /** DNS SANs; default `localhost` */
  dnsNames?: string[];
  /** IP SANs; default 127.0.0.1 and ::1 */
  ipAddresses?: string[];
  /** default: the first DNS name */
  commonName?: string;
  /** default 30, never past the issuing intermediate */
  validityDays?: number;
  keyType?: KeyType;
}

export interface ServerCertificate {
  serial: string;
  fingerprint: string;
  notAfter: string;
  certificatePem: string;
  /** issuing intermediate then root */
  chainPem: string;
  /** PKCS#8 PEM of the freshly generated key */
  privateKeyPem: string;
}

const ext = (extnID: string, critical: boolean, value: unknown) => new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
const sec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/**
 * Issues a serverAuth certificate (RFC 5280 leaf: cA false, critical keyUsage, EKU serverAuth, SANs as RFC 6125
 * asks: clients match the name against the SAN, not the CN) from the issuing intermediate. Not recorded in the
 * registry: it is never a client certificate, and the authorizer denies any serial the registry does not hold.
 * @throws CaError notFound without a CA; invalidInput on a bad name or address
 */
export async function issueServerCertificate(ctx: OperationContext, o: IssueServerCertificateOptions = {}): Promise<ServerCertificate> {
  const dnsNames = o.dnsNames ?? ['localhost'];
  const ips = o.ipAddresses ?? ['127.0.0.1', '::1'];
  for (const d of dnsNames) if (!/^(\*\.)?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/.test(d)) throw invalidInput(`invalid DNS name ${JSON.stringify(d)} for the server certificate`);
  for (const ip of ips) if (!isIP(ip)) throw invalidInput(`invalid IP address ${JSON.stringify(ip)} for the server certificate`);
  if (!dnsNames.length && !ips.length) throw invalidInput('the server certificate needs at least one DNS name or IP address');
  const issuer = await openIssuer(ctx);
  const issuing = issuer.state.issuing;
  const now = ctx.clock.now().getTime();
  const days = o.validityDays ?? 30;
  const notBefore = sec(Math.max(now - BACKDATE_MS, Date.parse(issuing.notBefore)));
  const notAfter = sec(Math.min(now + days * DAY_MS, Date.parse(issuing.notAfter)));
  const keyType = o.keyType ?? ctx.policy.clientKeyType;
  const { privateKey, publicKey } = generateKeyPair(keyType);
  const spki = spkiDer(publicKey);
  const info = AsnConvert.parse(spki, SubjectPublicKeyInfo);
  const ski = keyIdentifier(new Uint8Array(info.subjectPublicKey));
  const parent = issuerInfo(pemBlocks(issuing.certificatePem, 'CERTIFICATE')[0]!);
  const cn = o.commonName ?? dnsNames[0] ?? ips[0]!;
  const rdn = (type: string, value: string) => new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
  const serial = randomSerial();
  // RSA key exchange in TLS 1.2 needs keyEncipherment; ECDSA keys only sign.
  const usage = keyType.startsWith('rsa') ? KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment : KeyUsageFlags.digitalSignature;
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(Buffer.from(serial, 'hex')).buffer,
    signature: signatureAlgorithmIdentifier(issuer.signer.keyType),
    issuer: parent.name,
    validity: new Validity({ notBefore, notAfter }),
    subject: new Name([rdn('2.5.4.10', ctx.policy.organization), rdn('2.5.4.3', cn)]),
    subjectPublicKeyInfo: info,
    extensions: new Extensions([
      ext(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      ext(id_ce_keyUsage, true, new KeyUsage(usage)),
      ext(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_serverAuth])),
      ext(id_ce_subjectAltName, false, new SubjectAlternativeName([...dnsNames.map((dNSName) => new GeneralName({ dNSName })), ...ips.map((iPAddress) => new GeneralName({ iPAddress }))])),
      ext(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(ski)),
      ext(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(parent.keyId) })),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const der = assembleCertificate(tbsDer, issuer.signer.keyType, await issuer.signer.sign(tbsDer));
  return {
    serial,
    fingerprint: sha256Hex(der),
    notAfter: notAfter.toISOString(),
    certificatePem: toPem('CERTIFICATE', der),
    chainPem: issuing.certificatePem.trim() + '\n' + issuer.state.root.certificatePem.trim() + '\n',
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}
