import type { Command } from 'commander';
import { usageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { parseReason, revoke } from '../../domain/revocation.js';
import { certificateJson, table } from '../format.js';
import { confirmOrYes } from '../prompts.js';
import { emit, openRuntime } from '../runtime.js';
import { globals } from '../shared.js';

export async function runRevoke(id: string | undefined, o: Record<string, any>, cmd: Command): Promise<void> {
  if (!id && !o.serial) throw usageError('missing client id: say which certificates to revoke', 'ca revoke <id>, or ca revoke --serial <serial>');
  if (id && o.serial) throw usageError('give a client id or --serial, not both');
  if (id) validateClientId(id);
  const reason = parseReason(o.reason);
  const rt = await openRuntime(cmd);
  // The plan reads only: an unknown client or serial is refused before the lock (the first write) is taken.
  const planned = await revoke(rt.ctx, { clientId: id, serial: o.serial, reason, dryRun: true });
  const r = o.dryRun || !planned.revoked.length
    ? planned
    : await rt.store.lock.withLock(async () => {
        const plan = await revoke(rt.ctx, { clientId: id, serial: o.serial, reason, dryRun: true });
        if (!plan.revoked.length) return plan;
        await confirmOrYes(`Revoke ${plan.revoked.length} certificate(s) of ${plan.revoked[0]!.clientId} (${reason})?`, globals(cmd).yes);
        return revoke(rt.ctx, { clientId: id, serial: o.serial, reason });
      });
  const json = {
    dryRun: r.dryRun,
    reason,
    revoked: r.revoked.map((x) => ({ ...certificateJson(x), revokedAt: x.revokedAt ?? null })),
    alreadyRevoked: r.alreadyRevoked.map((x) => ({ ...certificateJson(x), revokedAt: x.revokedAt })),
  };
  emit(rt, json, () => {
    if (!r.revoked.length) return `already revoked: ${r.alreadyRevoked.map((x) => x.serial).join(', ') || 'nothing to revoke (all expired or retired)'}`;
    const head = r.dryRun ? `dry run: would revoke ${r.revoked.length} certificate(s)` : `Revoked ${r.revoked.length} certificate(s) (${reason}); the authorizer denies them from now on`;
    return [head, table(r.revoked.map((x) => ({ client: x.clientId, serial: x.serial, notAfter: x.notAfter })), [['client', 'CLIENT'], ['serial', 'SERIAL'], ['notAfter', 'NOT AFTER']])].join('\n');
  });
}
