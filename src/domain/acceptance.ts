import type { CertificateRecord } from '../ports.js';

/**
 * Whether a client certificate is still accepted, judged on its registry record alone: the one rule that
 * `ca status`, `ca list`, rotation, retirement and the authorizer share. Kept in a module of its own, with no
 * imports beyond the port types, because the authorizer's Lambda bundle includes it.
 */
export type Acceptance =
  | { accepted: true; reason: 'active' | 'superseded_in_grace' }
  | { accepted: false; reason: 'revoked' | 'superseded_grace_ended' | 'inactive' | 'invalid_record' | 'not_yet_valid' | 'expired' };

/** A record read from a store is not trusted to be well formed: a missing or garbled date accepts nothing. */
const dateOf = (s: unknown): number => (typeof s === 'string' ? Date.parse(s) : NaN);

/**
 * The verdict on a record at `now`: its status first (revoked, superseded past its grace period, retired),
 * then its validity period (notBefore inclusive, notAfter exclusive).
 */
export function acceptance(r: Pick<CertificateRecord, 'status' | 'notBefore' | 'notAfter' | 'graceUntil'>, now: Date): Acceptance {
  const t = now.getTime();
  let allowed: 'active' | 'superseded_in_grace';
  if (r.status === 'active') allowed = 'active';
  else if (r.status === 'revoked') return { accepted: false, reason: 'revoked' };
  else if (r.status === 'superseded') {
    if (!(t < dateOf(r.graceUntil))) return { accepted: false, reason: 'superseded_grace_ended' };
    allowed = 'superseded_in_grace';
  } else return { accepted: false, reason: 'inactive' };
  const notBefore = dateOf(r.notBefore);
  const notAfter = dateOf(r.notAfter);
  if (!Number.isFinite(notBefore) || !Number.isFinite(notAfter)) return { accepted: false, reason: 'invalid_record' };
  if (t < notBefore) return { accepted: false, reason: 'not_yet_valid' };
  if (t >= notAfter) return { accepted: false, reason: 'expired' };
  return { accepted: true, reason: allowed };
}

/** A client certificate the authorizer would still accept, judged on the record alone (see acceptance). */
export function isStillAccepted(r: Pick<CertificateRecord, 'status' | 'notBefore' | 'notAfter' | 'graceUntil'>, now: Date): boolean {
  return acceptance(r, now).accepted;
}
