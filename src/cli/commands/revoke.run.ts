import type { Command } from 'commander';
import { refreshAfterRevocation, type PublishedCrl } from '../../domain/crl-publication.js';
import type { CertificateRecord } from '../../ports.js';
import { CaError, usageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { parseReason, revoke } from '../../domain/revocation.js';
import { certificateJson, table } from '../format.js';
import { confirmOrYes } from '../prompts.js';
import { emit, openRuntime, warn, type Runtime } from '../runtime.js';
import { globals } from '../shared.js';
import { crlJson, crlLines } from './crl.run.js';

export async function runRevoke(id: string | undefined, o: Record<string, any>, cmd: Command): Promise<void> {
  if (!id && !o.serial) throw usageError('missing client id: say which certificates to revoke', 'ca revoke <id>, or ca revoke --serial <serial>');
  if (id && o.serial) throw usageError('give a client id or --serial, not both');
  if (id) validateClientId(id);
  const reason = parseReason(o.reason);
  const withCrls = o.crl !== false;
  const rt = await openRuntime(cmd);
  const days = rt.config.crlDays;
  // The plan reads only: an unknown client or serial is refused before the lock (the first write) is taken.
  const planned = await revoke(rt.ctx, { clientId: id, serial: o.serial, reason, dryRun: true });
  let crls: PublishedCrl[] = [];
  const warnings: string[] = [];
  let r = planned;
  if (o.dryRun) {
    if (withCrls) crls = (await refreshAfterRevocation(rt.ctx, { revokedNow: planned.revoked, alreadyRevoked: planned.alreadyRevoked, days, dryRun: true })).crls;
  } else if (!planned.revoked.length) {
    // nothing left to revoke: a run stopped between its commit and its CRLs is finished here (stale CRLs re-signed)
    if (withCrls) {
      const check = (await refreshAfterRevocation(rt.ctx, { revokedNow: [], alreadyRevoked: planned.alreadyRevoked, days, dryRun: true })).crls;
      crls = check.some((c) => c.action !== 'current') ? await rt.store.lock.withLock(() => refreshCrls(rt, [], planned.alreadyRevoked, days, warnings)) : check;
    }
  } else {
    [r, crls] = await rt.store.lock.withLock(async () => {
      const plan = await revoke(rt.ctx, { clientId: id, serial: o.serial, reason, dryRun: true });
      if (!plan.revoked.length) return [plan, []] as const;
      await confirmOrYes(`Revoke ${plan.revoked.length} certificate(s) of ${plan.revoked[0]!.clientId} (${reason})?`, globals(cmd).yes);
      const done = await revoke(rt.ctx, { clientId: id, serial: o.serial, reason });
      return [done, withCrls ? await refreshCrls(rt, done.revoked, done.alreadyRevoked, days, warnings) : []] as const;
    });
  }
  const json = {
    // nothing left to revoke is not a dry run: CRLs may have been re-signed
    dryRun: !!o.dryRun,
    reason,
    revoked: r.revoked.map((x) => ({ ...certificateJson(x), revokedAt: x.revokedAt ?? null })),
    alreadyRevoked: r.alreadyRevoked.map((x) => ({ ...certificateJson(x), revokedAt: x.revokedAt })),
    crls: crls.map(crlJson),
    files: o.dryRun ? [] : crls.filter((c) => c.action === 'published').flatMap((c) => c.files),
    warnings,
  };
  emit(rt, json, () => {
    const crlPart = crls.length ? `\nCRLs:\n${crlLines(crls)}` : '';
    if (!r.revoked.length) return `already revoked: ${r.alreadyRevoked.map((x) => x.serial).join(', ') || 'nothing to revoke (all expired or retired)'}${crlPart}`;
    const head = o.dryRun ? `dry run: would revoke ${r.revoked.length} certificate(s)` : `Revoked ${r.revoked.length} certificate(s) (${reason}); the authorizer denies them from now on`;
    return [head, table(r.revoked.map((x) => ({ client: x.clientId, serial: x.serial, notAfter: x.notAfter })), [['client', 'CLIENT'], ['serial', 'SERIAL'], ['notAfter', 'NOT AFTER']])].join('\n') + crlPart;
  });
}

/**
 * Re-signs the CRLs of the issuers a revocation touched, after its commit. The revocation never waits on them: it
 * is in force (the authorizer reads the registry) whether or not they can be signed and written (a CA key that
 * cannot be opened, a bucket that is gone), so a failure here is a warning that says how to finish, and the exit
 * code stays 0. `ca crl`, or this revoke run again, publishes them.
 */
async function refreshCrls(rt: Runtime, revokedNow: CertificateRecord[], alreadyRevoked: CertificateRecord[], days: number, warnings: string[]): Promise<PublishedCrl[]> {
  try {
    return (await refreshAfterRevocation(rt.ctx, { revokedNow, alreadyRevoked, days })).crls;
  } catch (e) {
    const hint = e instanceof CaError && e.hint ? ` (${e.hint})` : '';
    const w = `the CRLs were not re-signed: ${(e as Error).message}${hint}; the revocation is in force all the same: run \`ca crl\` (or this revoke again) to publish them`;
    warnings.push(w);
    warn(w);
    return [];
  }
}
