import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const audit = program
    .command('audit')
    .description('list the audit trail: every change to the store, who made it and when (`ca audit verify` checks its chain)')
    .option('--since <iso>', 'only events at or after this ISO-8601 time')
    .option('--client <id>', 'only events naming this client id')
    .option('--serial <hex>', 'only events naming this serial')
    .action(async (o, c: Command) => {
      const { runAuditList } = await import('./audit.run.js');
      await runAuditList(o, c);
    });
  helpFooter(audit, ['ca audit', 'ca audit --client acme --since 2026-01-01T00:00:00Z', 'ca audit --json | jq -c \'.events[]\'   # one event a line, for a SIEM']);
  const verify = audit
    .command('verify')
    .description('check the audit trail\'s hash chain; exit 7 naming the first broken sequence number')
    .action(async (_o, c: Command) => {
      const { runAuditVerify } = await import('./audit.run.js');
      await runAuditVerify(c);
    });
  helpFooter(verify, ['ca audit verify', 'ca audit verify --env production --json']);
}
