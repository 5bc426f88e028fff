import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('inspect <target>')
    .description('show a client\'s certificates from the registry, or decode a certificate file')
    .action(async (target: string, _o, c: Command) => {
      const { runInspect } = await import('./inspect.run.js');
      await runInspect(target, c);
    });
  helpFooter(cmd, ['ca inspect acme', 'ca inspect bundles/acme/acme.crt', 'ca inspect pki/truststore.pem --json']);
}
