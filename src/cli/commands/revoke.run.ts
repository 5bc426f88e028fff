import type { Command } from 'commander';
import { issuersOf, publishCrls, type PublishedCrl } from '../../domain/crl-publication.js';
import { CaError, usageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { parseReason, revoke } from '../../domain/revocation.js';
import { certificateJson, table } from '../format.js';
import { confirmOrYes } from '../prompts.js';
import { emit, openRuntime, type Runtime } from '../runtime.js';
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
  const issuers = issuersOf([...planned.revoked, ...planned.alreadyRevoked]);
  let crls: PublishedCrl[] = [];
  let r = planned;
  if (o.dryRun) {
    // nothing left to revoke: only CRLs that do not list the revocation yet would be re-signed
    if (withCrls) crls = (await publishCrls(rt.ctx, { issuers, days, dryRun: true, onlyStale: !planned.revoked.length })).crls;
  } else if (!planned.revoked.length) {
    // A run stopped between its commit and its CRLs: this one re-signs the CRLs that miss the revocation.
    if (withCrls) {
      const stale = (await publishCrls(rt.ctx, { issuers, days, dryRun: true, onlyStale: true })).crls;
      crls = stale.some((c) => c.action !== 'current') ? await rt.store.lock.withLock(() => refreshCrls(rt, issuers, days, 0, true)) : stale;
    }
  } else {
    [r, crls] = await rt.store.lock.withLock(async () => {
      const plan = await revoke(rt.ctx, { clientId: id, serial: o.serial, reason, dryRun: true });
      if (!plan.revoked.length) return [plan, []] as const;
      await confirmOrYes(`Revoke ${plan.revoked.length} certificate(s) of ${plan.revoked[0]!.clientId} (${reason})?`, globals(cmd).yes);
      const done = await revoke(rt.ctx, { clientId: id, serial: o.serial, reason });
      return [done, withCrls ? await refreshCrls(rt, issuersOf([...done.revoked, ...done.alreadyRevoked]), days, done.revoked.length) : []] as const;
    });
  }
  const json = {
    dryRun: r.dryRun,
    reason,
    revoked: r.revoked.map((x) => ({ ...certificateJson(x), revokedAt: x.revokedAt ?? null })),
    alreadyRevoked: r.alreadyRevoked.map((x) => ({ ...certificateJson(x), revokedAt: x.revokedAt })),
    crls: crls.map(crlJson),
    files: crls.filter((c) => c.action === 'published').flatMap((c) => c.files),
  };
  emit(rt, json, () => {
    const crlPart = crls.length ? `\nCRLs:\n${crlLines(crls)}` : '';
    if (!r.revoked.length) return `already revoked: ${r.alreadyRevoked.map((x) => x.serial).join(', ') || 'nothing to revoke (all expired or retired)'}${crlPart}`;
    const head = r.dryRun ? `dry run: would revoke ${r.revoked.length} certificate(s)` : `Revoked ${r.revoked.length} certificate(s) (${reason}); the authorizer denies them from now on`;
    return [head, table(r.revoked.map((x) => ({ client: x.clientId, serial: x.serial, notAfter: x.notAfter })), [['client', 'CLIENT'], ['serial', 'SERIAL'], ['notAfter', 'NOT AFTER']])].join('\n') + crlPart;
  });
}

/**
 * Re-signs the CRLs of the issuers a revocation touched, after its commit. A failure here leaves the revocation in
 * force (the registry has it) and says so; `ca crl`, or this revoke run again, publishes the CRLs.
 */
async function refreshCrls(rt: Runtime, issuers: string[], days: number, revokedNow: number, onlyStale = false): Promise<PublishedCrl[]> {
  try {
    return (await publishCrls(rt.ctx, { issuers, days, onlyStale })).crls;
  } catch (e) {
    const code = e instanceof CaError ? e.code : 'storage';
    const what = revokedNow ? `revoked ${revokedNow} certificate(s) (the authorizer denies them from now on)` : 'the certificates are revoked';
    throw new CaError(code, `${what}, but failed to publish the CRL: ${(e as Error).message}`, { hint: 'fix the cause, then run `ca crl` (or this revoke again) to publish the CRLs', cause: e });
  }
}
