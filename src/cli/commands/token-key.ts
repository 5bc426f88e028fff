import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const tk = program.command('token-key').description('the access token signing keys (ES256, in custody) and the published JWKS: list, rotate, prune');
  helpFooter(tk, ['ca token-key list', 'ca token-key rotate --dry-run', 'ca token-key prune --json']);
  const list = tk
    .command('list')
    .description('the keys of the published JWKS: which signs now, which waits for JWKS caches, which stays until its tokens expired')
    .action(async (o, c: Command) => {
      const { runTokenKey } = await import('./token-key.run.js');
      await runTokenKey('list', o, c);
    });
  helpFooter(list, ['ca token-key list', 'ca token-key list --json']);
  const rotate = tk
    .command('rotate')
    .description('publish a new signing key: it signs once JWKS caches can have seen it (11 min 30 s); the old one stays published until its last token expired; keys past that are removed')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (o, c: Command) => {
      const { runTokenKey } = await import('./token-key.run.js');
      await runTokenKey('rotate', o, c);
    });
  helpFooter(rotate, ['ca token-key rotate', 'ca token-key rotate --dry-run --json']);
  const prune = tk
    .command('prune')
    .description('remove the keys every token of which has expired (rotate does it too)')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (o, c: Command) => {
      const { runTokenKey } = await import('./token-key.run.js');
      await runTokenKey('prune', o, c);
    });
  helpFooter(prune, ['ca token-key prune --dry-run']);
}
