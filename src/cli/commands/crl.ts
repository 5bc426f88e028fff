import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('crl')
    .description('sign and publish the certificate revocation list of the root and of each trusted intermediate (re-signs even when nothing changed, to move nextUpdate)')
    .option('--days <n>', 'days from thisUpdate to nextUpdate, 1 to 366 (or crlDays / CA_CRL_DAYS; default 7)')
    .option('--dry-run', 'print the CRLs that would be published and change nothing')
    .action(async (o, c: Command) => {
      const { runCrl } = await import('./crl.run.js');
      await runCrl(o, c);
    });
  helpFooter(cmd, ['ca crl', 'ca crl --days 3 --json', 'ca crl --dry-run']);
}
