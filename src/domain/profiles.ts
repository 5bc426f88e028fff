import type { KeyType } from '../ports.js';

/**
 * The certificate profiles, as data: what each kind of certificate asserts. One builder (template.ts) renders
 * every one of them; what varies per certificate (serial, names, validity, key, SANs) is its input, never here.
 */

/** RFC 5280 4.2.1.3 KeyUsage bits, by their bit number. */
export const KEY_USAGE_BITS = { digitalSignature: 0, keyEncipherment: 2, keyCertSign: 5, cRLSign: 6 } as const;
export type KeyUsageName = keyof typeof KEY_USAGE_BITS;
export type ExtKeyUsageName = 'serverAuth' | 'clientAuth';

export interface CertificateProfile {
  readonly name: 'root' | 'intermediate' | 'client' | 'spiffe-client' | 'server';
  /** basicConstraints, always critical (RFC 5280 4.2.1.9); pathLen only on an issuing intermediate */
  readonly basicConstraints: { readonly ca: false } | { readonly ca: true; readonly pathLen?: number };
  /** keyUsage, always critical (RFC 5280 4.2.1.3) */
  readonly keyUsage: readonly KeyUsageName[];
  /** extendedKeyUsage, not critical; absent on CA certificates */
  readonly extKeyUsage?: readonly ExtKeyUsageName[];
  /** the subjectAltName kinds this profile carries (the values are the certificate's input) */
  readonly subjectAltName?: readonly ('uri' | 'dns' | 'ip')[];
  /**
   * the profile may carry a cRLDistributionPoints extension (RFC 5280 4.2.1.13), not critical, one distribution
   * point whose fullName is one URI; the URL is the certificate's input, present only when the CA profile sets one
   */
  readonly crlDistributionPoint?: boolean;
}

/** Self-signed trust anchor: keyCertSign and cRLSign, no path length limit, AKI equal to its own SKI. */
export const ROOT: CertificateProfile = { name: 'root', basicConstraints: { ca: true }, keyUsage: ['keyCertSign', 'cRLSign'] };

/** Issuing intermediate: a CA that may issue only end-entity certificates (pathLen 0). */
export const INTERMEDIATE: CertificateProfile = { name: 'intermediate', basicConstraints: { ca: true, pathLen: 0 }, keyUsage: ['keyCertSign', 'cRLSign'] };

/** Client certificate for mutual TLS: signs the handshake, clientAuth only. */
export const CLIENT: CertificateProfile = { name: 'client', basicConstraints: { ca: false }, keyUsage: ['digitalSignature'], extKeyUsage: ['clientAuth'], crlDistributionPoint: true };

/**
 * SPIFFE X.509-SVID client: exactly one URI SAN, and, since it has an EKU, both serverAuth and clientAuth
 * (SPIFFE X.509-SVID spec 4.4 and 5).
 */
export const SPIFFE_CLIENT: CertificateProfile = {
  name: 'spiffe-client',
  basicConstraints: { ca: false },
  keyUsage: ['digitalSignature'],
  extKeyUsage: ['serverAuth', 'clientAuth'],
  subjectAltName: ['uri'],
  crlDistributionPoint: true,
};

const SERVER_EC: CertificateProfile = { name: 'server', basicConstraints: { ca: false }, keyUsage: ['digitalSignature'], extKeyUsage: ['serverAuth'], subjectAltName: ['dns', 'ip'] };
// RSA key exchange in TLS 1.2 needs keyEncipherment; ECDSA keys only sign.
const SERVER_RSA: CertificateProfile = { ...SERVER_EC, keyUsage: ['digitalSignature', 'keyEncipherment'] };

/** TLS server (the local gateway): serverAuth, names in the SAN as RFC 6125 asks (clients ignore the CN). */
export function serverProfile(keyType: KeyType): CertificateProfile {
  return keyType.startsWith('rsa') ? SERVER_RSA : SERVER_EC;
}

/** The client profile: with a SPIFFE ID the X.509-SVID one. */
export function clientProfile(spiffe: boolean): CertificateProfile {
  return spiffe ? SPIFFE_CLIENT : CLIENT;
}
