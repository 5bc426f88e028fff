import type { CertificateRecord, RegistryChange, RevocationReason } from '../ports.js';
import type { OperationContext } from './context.js';
import { invalidInput, notFound, usageError } from './errors.js';
import { atomicChunks } from './registry-rules.js';
import { isSerial, normalizeSerial } from './serial.js';

export const REVOCATION_REASONS: readonly RevocationReason[] = [
  'unspecified',
  'keyCompromise',
  'cACompromise',
  'affiliationChanged',
  'superseded',
  'cessationOfOperation',
  'certificateHold',
  'removeFromCRL',
  'privilegeWithdrawn',
  'aACompromise',
];

export function parseReason(value: string): RevocationReason {
  const found = REVOCATION_REASONS.find((r) => r.toLowerCase() === value.trim().toLowerCase());
  if (!found) throw invalidInput(`unknown revocation reason ${JSON.stringify(value)}`, `use one of ${REVOCATION_REASONS.join(', ')} (RFC 5280 5.3.1)`);
  if (found === 'removeFromCRL' || found === 'cACompromise' || found === 'aACompromise') {
    throw invalidInput(`reason ${found} does not apply to a client certificate`, 'use keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn or unspecified');
  }
  return found;
}

export interface RevokeOptions {
  clientId?: string;
  serial?: string;
  reason?: RevocationReason;
  dryRun?: boolean;
}

export interface RevokeResult {
  dryRun: boolean;
  revoked: CertificateRecord[];
  /** already revoked before this call (revoking is idempotent) */
  alreadyRevoked: CertificateRecord[];
}

/**
 * Revokes a client's certificates (by id: every one not yet revoked, superseded ones in their grace period
 * included) or one certificate by serial. Effective at once: the authorizer reads the registry. The changes go in
 * as many atomic commits as the registry's limits need, the active certificate in the first, so the change that
 * matters most lands first; a re-run after an interruption revokes what is left.
 * @throws CaError notFound for an unknown client or serial
 */
export async function revoke(ctx: OperationContext, o: RevokeOptions): Promise<RevokeResult> {
  if (!o.clientId === !o.serial) throw usageError('give either a client id or --serial');
  const reason = o.reason ?? 'unspecified';
  let records: CertificateRecord[];
  if (o.serial) {
    const r = await findBySerial(ctx, o.serial);
    if (r.kind !== 'client') throw usageError(`serial ${r.serial} is a CA certificate`, 'remove an intermediate from trust with `ca retire-intermediate`');
    records = [r];
  } else {
    records = await ctx.store.registry.list({ kind: 'client', clientId: o.clientId });
    if (!records.length) throw notFound(`unknown client ${o.clientId}`, 'see `ca list`');
  }
  const alreadyRevoked = records.filter((r) => r.status === 'revoked');
  const todo = revocationOrder(records.filter((r) => r.status === 'active' || r.status === 'superseded'));
  if (o.dryRun || !todo.length) return { dryRun: !!o.dryRun, revoked: todo, alreadyRevoked };
  const at = ctx.clock.now().toISOString();
  const changes: RegistryChange[] = todo.map((r) => ({ op: 'update', expect: r.status, record: { ...r, status: 'revoked', revokedAt: at, revocationReason: reason } }));
  for (const chunk of atomicChunks(changes, ctx.store.registry.limits)) await ctx.store.registry.commit(chunk, { atomic: true });
  return { dryRun: false, revoked: changes.map((c) => c.record), alreadyRevoked };
}

/** Active first, then the newest superseded ones (the likeliest still in their grace period). */
function revocationOrder(records: CertificateRecord[]): CertificateRecord[] {
  return [...records].sort((a, b) => Number(b.status === 'active') - Number(a.status === 'active') || b.createdAt.localeCompare(a.createdAt));
}

/** Shortest serial prefix accepted: 4 hex digits (16 bits) is what human output never abbreviates below. */
const MIN_PREFIX = 4;

/**
 * The certificate a serial names: the whole serial in any tool's spelling (colons, `0x`, upper case), or, as
 * `git` takes hashes, an unambiguous prefix, also in the abbreviated form human output prints (`4f1c…e2`).
 * @throws CaError invalidInput for a malformed or ambiguous serial, notFound when nothing matches
 */
export async function findBySerial(ctx: OperationContext, input: string): Promise<CertificateRecord> {
  const abbreviated = /^\s*([0-9a-fA-F]+)(?:…|\.\.\.)([0-9a-fA-F]*)\s*$/.exec(input);
  if (!abbreviated && !isSerial(input)) {
    throw invalidInput(`malformed serial ${JSON.stringify(input)}`, 'a serial is hexadecimal (colons, spaces and 0x are fine); `ca list` shows them');
  }
  if (!abbreviated) {
    const exact = await ctx.store.registry.get(normalizeSerial(input));
    if (exact) return exact;
  }
  const prefix = abbreviated ? normalizeSerial(abbreviated[1]!) : normalizeSerial(input);
  const suffix = abbreviated ? abbreviated[2]!.toLowerCase() : '';
  // a whole serial (ours have 32 digits) that is not in the registry, or a prefix too short to mean one certificate
  if (!abbreviated && (prefix.length < MIN_PREFIX || prefix.length >= 32)) throw notFound(`no certificate with serial ${prefix}`, 'see `ca list --all`');
  if (prefix.length < MIN_PREFIX) throw invalidInput(`serial ${JSON.stringify(input)} is too short to look up`, `give at least ${MIN_PREFIX} leading hex digits`);
  const matches = (await ctx.store.registry.list()).filter((r) => r.serial.startsWith(prefix) && r.serial.endsWith(suffix) && r.serial.length >= prefix.length + suffix.length);
  if (matches.length === 1) return matches[0]!;
  if (matches.length > 1) throw invalidInput(`serial ${JSON.stringify(input)} is ambiguous: ${matches.length} certificates match`, 'give more digits of the serial');
  throw notFound(`no certificate with serial ${abbreviated ? input.trim() : prefix}`, 'see `ca list --all`');
}
