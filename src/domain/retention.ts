import type { CertificateRecord } from '../ports.js';

/** Days a finished certificate's record stays where the authorizer reads it, by default. */
export const DEFAULT_RETENTION_DAYS = 90;
export const MAX_RETENTION_DAYS = 36500;

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * When a record may leave the registry the authorizer reads (DynamoDB TTL on the AWS store, `ca compact` on the
 * local one), or undefined when it never does. The one rule both stores follow:
 * - only client certificates: CA records are the hierarchy itself (the truststore, the chain of every record);
 * - never an active one: it is the client's current record, which the at-most-one-active rule (and DynamoDB's
 *   index item) is about, even once expired (`ca status` warns; renew or revoke it, then it is finished);
 * - a superseded one `retentionDays` after the end of its grace period (never while in grace), else after notAfter;
 * - a revoked one `retentionDays` after notAfter, never sooner: a CRL lists it until it expires (RFC 5280 §3.3).
 * A record whose dates do not parse is kept.
 */
export function retentionEnd(r: Pick<CertificateRecord, 'kind' | 'status' | 'notAfter' | 'graceUntil'>, retentionDays: number): Date | undefined {
  if (r.kind !== 'client') return undefined;
  let from: number;
  if (r.status === 'superseded') {
    const grace = typeof r.graceUntil === 'string' ? Date.parse(r.graceUntil) : NaN;
    const notAfter = Date.parse(r.notAfter);
    from = Number.isFinite(grace) ? Math.min(grace, notAfter) : notAfter;
  } else if (r.status === 'revoked') {
    from = Date.parse(r.notAfter);
  } else {
    return undefined;
  }
  if (!Number.isFinite(from)) return undefined;
  return new Date(from + retentionDays * DAY_MS);
}

/** Whether a record's retention period is over at `now` (see retentionEnd). */
export function pastRetention(r: Pick<CertificateRecord, 'kind' | 'status' | 'notAfter' | 'graceUntil'>, now: Date, retentionDays: number): boolean {
  const end = retentionEnd(r, retentionDays);
  return !!end && end.getTime() <= now.getTime();
}
