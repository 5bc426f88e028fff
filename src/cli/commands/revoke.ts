import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('revoke [id]')
    .description('revoke a client\'s certificates (or one by --serial): the authorizer denies them from now on, and the CRLs of their issuers are re-signed')
    .option('--serial <hex>', 'revoke only this certificate')
    .option('--reason <reason>', 'RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn, unspecified', 'unspecified')
    .option('--no-crl', 'do not re-sign the CRLs of the issuers (run `ca crl` later); the revocation is in force either way')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (id: string | undefined, o, c: Command) => {
      const { runRevoke } = await import('./revoke.run.js');
      await runRevoke(id, o, c);
    });
  helpFooter(cmd, ['ca revoke acme --reason keyCompromise --yes', 'ca revoke --serial 4f1c…e2 --reason superseded', 'ca revoke acme --dry-run --json']);
}
