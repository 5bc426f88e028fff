import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('compact')
    .description('move records of certificates finished longer than the retention period out of the registry into the store\'s archive (aws store: DynamoDB TTL does it; this lists what is due)')
    .option('--retention-days <n>', 'days a superseded (after its grace) or revoked certificate\'s record is kept after it ends (or retentionDays, CA_RETENTION_DAYS; default 90)')
    .option('--dry-run', 'print what would be cleaned up and change nothing')
    .action(async (o, c: Command) => {
      const { compact } = await import('../../domain/cleanup.js');
      const { summarize } = await import('../../domain/reporting.js');
      const { emit, openRuntime } = await import('../runtime.js');
      const { table, day } = await import('../format.js');
      const { wholeNumberFlag } = await import('../input.js');
      const { MAX_RETENTION_DAYS } = await import('../../domain/retention.js');
      const retentionDays = o.retentionDays !== undefined ? wholeNumberFlag('--retention-days', o.retentionDays, 1, MAX_RETENTION_DAYS) : undefined;
      const rt = await openRuntime(c, { profile: 'read', dryRun: !!o.dryRun, settings: retentionDays !== undefined ? { retentionDays } : {} });
      const days = rt.config.retentionDays;
      const r = o.dryRun ? await compact(rt.ctx, { retentionDays: days, dryRun: true }) : await rt.store.lock.withLock(() => compact(rt.ctx, { retentionDays: days }));
      const now = rt.ctx.clock.now();
      const changed = r.method === 'archive' && !r.dryRun && r.records.length > 0;
      const { join } = await import('node:path');
      const files = changed && rt.config.store === 'local' ? [r.archive!, join(rt.config.dir, 'registry.json')] : [];
      const doc = {
        dryRun: r.dryRun,
        retentionDays: r.retentionDays,
        method: r.method === 'archive' ? 'archive' : 'dynamodb-ttl',
        archive: r.archive ?? null,
        cleaned: r.records.map((x) => summarize(x, now)),
        files,
      };
      emit(rt, doc, () => {
        const n = r.records.length;
        const head =
          r.method === 'ttl'
            ? `${n} record(s) past the retention period of ${days} days; DynamoDB TTL (attribute expiresAt) removes them, lazily: nothing to do here`
            : r.dryRun
              ? `dry run: would move ${n} record(s) past the retention period of ${days} days into ${r.archive}`
              : n
                ? `Moved ${n} record(s) past the retention period of ${days} days out of the registry into ${r.archive}`
                : `nothing past the retention period of ${days} days`;
        const rows = r.records.map((x) => ({ client: x.clientId, status: summarize(x, now).status, serial: x.serial, ended: day(x.status === 'superseded' && x.graceUntil ? x.graceUntil : x.notAfter) }));
        return [head, table(rows, [['client', 'CLIENT'], ['status', 'STATUS'], ['serial', 'SERIAL'], ['ended', 'ENDED']])].filter(Boolean).join('\n');
      });
    });
  helpFooter(cmd, ['ca compact --dry-run', 'ca compact --json', 'ca compact --retention-days 365   # keep a year of finished records', 'ca list --all                    # says what was cleaned up, archived records marked']);
}
