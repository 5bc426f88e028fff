import type { CaProfile } from '../ports.js';
import { invalidInput } from './errors.js';
import { TRUST_DOMAIN } from './spiffe.js';

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
  if (!TRUST_DOMAIN.test(td)) {
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
