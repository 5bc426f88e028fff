import type { CaProfile } from '../ports.js';
import { invalidInput } from './errors.js';

/** The CA's issuing policy: the recorded CA profile (see CaProfile in ports.ts). */
export type CaPolicy = CaProfile;

export const DEFAULT_POLICY: CaPolicy = {
  organization: 'Example Org',
  caName: 'Example',
  caKeyType: 'ec-p256',
  clientKeyType: 'ec-p256',
  rootValidityDays: 3650,
  intermediateValidityDays: 1095,
  clientValidityDays: 365,
  graceDays: 7,
};

/** Certificates start a few minutes in the past so a peer whose clock lags a little still accepts them. */
export const BACKDATE_MS = 5 * 60 * 1000;
export const DAY_MS = 24 * 60 * 60 * 1000;

/** SPIFFE trust domain: lowercase DNS-like name (SPIFFE ID spec 2.1). */
export function validateTrustDomain(td: string): string {
  if (!/^[a-z0-9._-]{1,255}$/.test(td)) {
    throw invalidInput(`invalid SPIFFE trust domain ${JSON.stringify(td)}: use lowercase letters, digits, '.', '_' and '-'`);
  }
  return td;
}

export function spiffeIdFor(policy: CaPolicy, clientId: string): string | undefined {
  // client ids are [A-Za-z0-9._-] and never '.' or '..', so the path segment is always valid (SPIFFE ID 2.2)
  return policy.spiffeTrustDomain ? `spiffe://${policy.spiffeTrustDomain}/client/${clientId}` : undefined;
}

export function validateDays(name: string, v: number, max = 36500): number {
  if (!Number.isInteger(v) || v < 1 || v > max) throw invalidInput(`${name} must be a whole number of days from 1 to ${max}, got ${v}`);
  return v;
}

/** The grace period of superseded client certificates: 0 to 365 whole days. */
export function parseGraceDays(v: unknown): number {
  const n = typeof v === 'string' && !/^\d+$/.test(v.trim()) ? NaN : Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 365) throw invalidInput(`graceDays must be a whole number from 0 to 365, got ${String(v)}`);
  return n;
}

/** The placeholder a CRL distribution point setting may hold: replaced by the issuing intermediate's CRL name. */
export const CRL_DP_ISSUER = '{issuer}';

/**
 * A CRL distribution point setting: an https:// URL (what RFC 5280 4.2.1.13 and relying parties fetch) or an
 * s3:// URL naming a bucket and key, printable ASCII (the extension holds an IA5String), no credentials, no
 * fragment, at most 512 characters. `{issuer}` may appear in the path: each intermediate has its own CRL.
 * @throws CaError invalidInput naming what is wrong
 */
export function validateCrlDistributionPoint(v: string): string {
  const bad = (why: string) => invalidInput(`invalid CRL distribution point ${JSON.stringify(v)}: ${why}`, 'give an https:// or s3:// URL, e.g. https://pki.example.com/crl/{issuer}.crl');
  if (v.length > 512) throw bad('longer than 512 characters');
  if (!/^[\x21-\x7e]+$/.test(v)) throw bad('only printable ASCII without spaces is allowed');
  let url: URL;
  try {
    url = new URL(v.split(CRL_DP_ISSUER).join('0123abcd'));
  } catch {
    throw bad('not a URL');
  }
  if (url.protocol !== 'https:' && url.protocol !== 's3:') throw bad(`the scheme is ${url.protocol.replace(/:$/, '')}, not https or s3`);
  if (!url.hostname) throw bad(url.protocol === 's3:' ? 'no bucket name' : 'no host');
  if (url.username || url.password) throw bad('credentials do not belong in a URL certificates carry');
  if (url.hash) throw bad('a fragment is not allowed');
  if (url.protocol === 's3:' && url.pathname.length < 2) throw bad('no object key');
  if (v.includes(CRL_DP_ISSUER) && !url.pathname.includes('0123abcd')) throw bad(`${CRL_DP_ISSUER} may appear only in the path`);
  return v;
}

/**
 * The name a CA's CRL is published under: its serial (lowercase hex), stable for the CA's life and shown by
 * `ca list --all`. It is what `{issuer}` in a CRL distribution point expands to.
 */
export const crlName = (ca: { serial: string }) => ca.serial;

/** The URL a certificate carries: the setting with `{issuer}` replaced by the issuer's CRL name. */
export function expandCrlDistributionPoint(setting: string, issuerCrlName: string): string {
  return setting.split(CRL_DP_ISSUER).join(issuerCrlName);
}

/** Days from a CRL's thisUpdate to its nextUpdate unless configured (`crlDays`). */
export const DEFAULT_CRL_DAYS = 7;
/** The longest nextUpdate distance accepted: a relying party keeps a CRL at most this long. */
export const MAX_CRL_DAYS = 366;

/** The days between thisUpdate and nextUpdate: a whole number from 1 to 366. @throws CaError invalidInput */
export function parseCrlDays(v: unknown): number {
  const n = typeof v === 'string' && !/^\d+$/.test(v.trim()) ? NaN : Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_CRL_DAYS) throw invalidInput(`crlDays must be a whole number of days from 1 to ${MAX_CRL_DAYS}, got ${String(v)}`);
  return n;
}
