/**
 * A TLS server certificate for the local gateway, issued by the CA's issuing intermediate with the server
 * profile (src/domain/profiles.ts) through the one certificate builder.
 */
import { isIP } from 'node:net';
import type { KeyType } from '../ports.js';
import type { OperationContext } from '../domain/context.js';
import { pemBlocks, toPem } from '../domain/der.js';
import { invalidInput } from '../domain/errors.js';
import { openIssuer } from '../domain/issuance.js';
import { generateKeyPair, sha256Hex, spkiDer } from '../domain/keys.js';
import { BACKDATE_MS, DAY_MS } from '../domain/policy.js';
import { serverProfile } from '../domain/profiles.js';
import { randomSerial } from '../domain/serial.js';
import { CertificateTemplate } from '../domain/template.js';

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
  const serial = randomSerial();
  const template = new CertificateTemplate(pemBlocks(issuing.certificatePem, 'CERTIFICATE')[0]!, issuer.signer.keyType);
  // the server carries its CA's O=, as client certificates do
  const tbs = template.tbs(serverProfile(keyType), {
    serial,
    subject: { commonName: o.commonName ?? dnsNames[0] ?? ips[0]!, organization: issuer.organization },
    notBefore,
    notAfter,
    publicKeySpki: spkiDer(publicKey),
    san: { dns: dnsNames, ip: ips },
  });
  const der = template.certificate(tbs, await issuer.signer.sign(tbs));
  return {
    serial,
    fingerprint: sha256Hex(der),
    notAfter: notAfter.toISOString(),
    certificatePem: toPem('CERTIFICATE', der),
    chainPem: issuing.certificatePem.trim() + '\n' + issuer.state.root.certificatePem.trim() + '\n',
    privateKeyPem: privateKey.export({ format: 'pem', type: 'pkcs8' }) as string,
  };
}
