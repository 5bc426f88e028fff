import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('list')
    .description('list client certificates (current ones by default)')
    .option('--status <status>', 'only this status: active, superseded, revoked, expired, grace-ended')
    .option('--all', 'include history (revoked, expired, superseded past grace)')
    .action(async (o, c: Command) => {
      const { listClients } = await import('../../domain/reporting.js');
      const { usageError } = await import('../../domain/errors.js');
      const { emit, openRuntime } = await import('../runtime.js');
      const { table, day } = await import('../format.js');
      const statuses = ['active', 'superseded', 'revoked', 'expired', 'grace-ended'];
      if (o.status && !statuses.includes(o.status)) throw usageError(`unknown status ${o.status}`, `use one of ${statuses.join(', ')}`);
      const rt = await openRuntime(c, { profile: 'read' });
      const rows = await listClients(rt.ctx, { status: o.status, all: !!o.all });
      emit(rt, { certificates: rows }, () =>
        rows.length
          ? table(
              rows.map((r) => ({ ...r, notAfter: day(r.notAfter), days: r.daysLeft })),
              [['clientId', 'CLIENT'], ['status', 'STATUS'], ['serial', 'SERIAL'], ['notAfter', 'EXPIRES'], ['days', 'DAYS'], ['keyType', 'KEY']],
            )
          : 'no client certificates' + (o.status ? ` with status ${o.status}` : ''),
      );
    });
  helpFooter(cmd, ['ca list', 'ca list --status revoked', 'ca list --all --json | jq \'.certificates[] | .clientId\'']);
}
