import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

const collect = (v: string, prev: string[] = []) => [...prev, v];

export function register(program: Command): void {
  const client = program.command('client').description('change what a client is granted by the token endpoint (scopes, audiences) without re-issuing');
  helpFooter(client, ['ca client scopes acme --add orders:write', 'ca client audiences acme --set https://api.example.com']);
  for (const field of ['scopes', 'audiences'] as const) {
    const one = field === 'scopes' ? 'scope' : 'audience';
    const cmd = client
      .command(`${field} <id>`)
      .description(`show or change the ${field} recorded for a client (on its active certificate and those in grace)`)
      .option(`--set <${field}>`, `replace the list (comma-separated; "" for none)`, collect)
      .option(`--add <${one}>`, `add (repeatable, or comma-separated)`, collect)
      .option(`--remove <${one}>`, `remove (repeatable, or comma-separated)`, collect)
      .option('--dry-run', 'print what would be done and change nothing')
      .action(async (id: string, o, c: Command) => {
        const { runClientGrants } = await import('./client.run.js');
        await runClientGrants(field, id, o, c);
      });
    helpFooter(
      cmd,
      field === 'scopes'
        ? ['ca client scopes acme                       # show', 'ca client scopes acme --set orders:read,orders:write', 'ca client scopes acme --remove orders:write --dry-run --json']
        : ['ca client audiences acme --add https://billing.example.com', 'ca client audiences acme --set ""          # back to CA_TOKEN_AUDIENCE'],
    );
  }
}
