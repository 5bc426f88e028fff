import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('list')
    .description('list client certificates (current ones by default)')
    .option('--status <status>', 'only this status: active, superseded, revoked, expired, grace-ended')
    .option('--all', 'include history (revoked, expired, superseded past grace) and what was cleaned up past the retention period')
    .action(async (o, c: Command) => {
      const { listWithCleanup } = await import('../../domain/reporting.js');
      const { usageError } = await import('../../domain/errors.js');
      const { emit, openRuntime } = await import('../runtime.js');
      const { table, day } = await import('../format.js');
      const statuses = ['active', 'superseded', 'revoked', 'expired', 'grace-ended'];
      if (o.status && !statuses.includes(o.status)) throw usageError(`unknown status ${o.status}`, `use one of ${statuses.join(', ')}`);
      const rt = await openRuntime(c, { profile: 'read' });
      const { certificates: rows, cleanup } = await listWithCleanup(rt.ctx, { status: o.status, all: !!o.all, retentionDays: rt.config.retentionDays });
      const cleanedUp = cleanup && { ...cleanup, method: cleanup.method === 'archive' ? 'archive' : 'dynamodb-ttl' };
      emit(rt, { certificates: rows, ...(cleanedUp ? { cleanedUp } : {}) }, () => {
        const text = rows.length
          ? table(
              rows.map((r) => ({ ...r, status: r.archivedAt ? `${r.status} (archived)` : r.status, notAfter: day(r.notAfter), days: r.daysLeft })),
              [['clientId', 'CLIENT'], ['status', 'STATUS'], ['serial', 'SERIAL'], ['notAfter', 'EXPIRES'], ['days', 'DAYS'], ['keyType', 'KEY']],
            )
          : 'no client certificates' + (o.status ? ` with status ${o.status}` : '');
        if (!cleanup) return text;
        const waiting = cleanup.awaitingCleanup;
        const note =
          cleanup.method === 'archive'
            ? `cleaned up: ${cleanup.archived} record(s) past the retention period of ${cleanup.retentionDays} days, moved to ${cleanup.archive} (marked archived)` +
              (waiting ? `; ${waiting} more due: run \`ca compact\`` : '')
            : `cleaned up: records past the retention period of ${cleanup.retentionDays} days are removed by DynamoDB TTL (attribute expiresAt), which keeps no count; ${waiting} listed are due and awaiting removal`;
        return `${text}\n${note}`;
      });
    });
  helpFooter(cmd, ['ca list', 'ca list --status revoked', 'ca list --all --json | jq \'.certificates[] | .clientId\'']);
}
