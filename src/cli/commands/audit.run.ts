import type { Command } from 'commander';
import { filterEvents, verifyChain } from '../../domain/audit.js';
import { CaError, usageError } from '../../domain/errors.js';
import { emit, openRuntime } from '../runtime.js';

export async function runAuditList(o: Record<string, any>, cmd: Command): Promise<void> {
  if (o.since !== undefined && (!/^\d{4}-\d{2}-\d{2}/.test(o.since) || Number.isNaN(Date.parse(o.since)))) {
    throw usageError(`--since needs an ISO-8601 time, not ${JSON.stringify(o.since)}`, 'e.g. --since 2026-01-31T00:00:00Z');
  }
  const rt = await openRuntime(cmd, { profile: 'read' });
  const events = filterEvents(await rt.store.audit.read(), { since: o.since, clientId: o.client, serial: o.serial });
  emit(rt, { events }, () =>
    events.length
      ? events
          .map((e) =>
            [
              `#${e.seq}`,
              e.time,
              e.operation,
              e.change,
              e.result === 'ok' ? 'ok' : `failed (${e.exit?.category ?? '?'}, exit ${e.exit?.code ?? '?'})`,
              e.actor,
              e.truststoreVersion ? `truststore ${e.truststoreVersion}` : '',
              e.clientIds.length ? `clients ${e.clientIds.join(',')}` : '',
              e.serials.length ? `serials ${e.serials.join(',')}` : '',
            ]
              .filter(Boolean)
              .join('  '),
          )
          .join('\n')
      : 'no audit events' + (o.since || o.client || o.serial ? ' match' : ''),
  );
}

export async function runAuditVerify(cmd: Command): Promise<void> {
  const rt = await openRuntime(cmd, { profile: 'read' });
  const events = await rt.store.audit.read();
  const head = await rt.store.audit.head();
  const r = verifyChain(events, head);
  emit(rt, { ok: r.ok, events: r.events, lastGoodSeq: r.lastGoodSeq, firstBreak: r.firstBreak ?? null, head: head ?? null }, () =>
    r.ok ? `OK: ${r.events} audit event(s), chain intact${head ? ` up to ${head.seq}` : ''}` : `broken at event ${r.firstBreak!.seq}: ${r.firstBreak!.reason}`,
  );
  if (!r.ok) throw new CaError('verification', `the audit trail is broken at event ${r.firstBreak!.seq}: ${r.firstBreak!.reason}`, { hint: 'events up to the last good one can be trusted; restore the trail from a backup or a SIEM export' });
}
