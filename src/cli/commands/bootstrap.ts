import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('bootstrap')
    .description('create the root CA and an issuing intermediate, keep their keys safe, publish the truststore')
    .option('--org <name>', 'organization (O=) of the CA and its clients')
    .option('--ca-name <name>', 'CA name used in the CA subjects')
    .option('--ca-key-type <type>', 'CA key type: ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096')
    .option('--root-days <n>', 'root validity in days (default 3650)')
    .option('--intermediate-days <n>', 'intermediate validity in days (default 1095)')
    .option('--force', 'replace an existing CA: everything it issued stops being trusted (asks to confirm)')
    .option('--dry-run', 'print what would be done and change nothing')
    .option('--no-passphrase', 'write CA keys unencrypted (local store; needs --insecure)')
    .option('--insecure', 'allow --no-passphrase')
    .option('--strict', 'fail when API Gateway reports truststore warnings')
    .action(async (o, c: Command) => {
      const { runBootstrap } = await import('./bootstrap.run.js');
      await runBootstrap(o, c);
    });
  helpFooter(cmd, [
    'CA_PASSPHRASE=... ca bootstrap                  # ./pki with encrypted CA keys',
    'ca bootstrap --org "Acme Corp" --ca-name Acme --ca-key-type ec-p384',
    'ca bootstrap --env production --strict --json  # AWS store from ca.config.json',
    'ca bootstrap --dry-run',
  ]);
}
