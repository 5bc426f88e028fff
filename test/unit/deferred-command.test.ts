import { describe, it, expect } from 'vitest';
import { DeferredCommand } from '../../src/cli/deferred-command.js';

/** A program as main.ts builds one: an eager root, subcommands whose options after the first are deferred. */
function program(seen: Record<string, unknown>[]) {
  const root = new DeferredCommand('ca', { eager: true }).option('--json').exitOverride().configureOutput({ writeOut: () => {}, writeErr: () => {} });
  root
    .command('issue [id]')
    .option('--csr <file>', 'csr')
    .option('--deliver <where>', 'where', 'files')
    .option('--days <n>', 'days', '365')
    .action((_id, o) => void seen.push({ ...o }));
  const group = root.command('truststore');
  group
    .command('verify')
    .option('--strict', 'strict')
    .option('--warn-days <n>', 'warn', '30')
    .action((o) => void seen.push({ ...o }));
  return root;
}

describe('DeferredCommand', () => {
  it('declares a subcommand\'s later options only when it is parsed', () => {
    const seen: Record<string, unknown>[] = [];
    const root = program(seen);
    const issue = root.commands.find((c) => c.name() === 'issue')!;
    expect(issue.options.map((o) => o.long)).toEqual(['--csr']);
    root.parse(['issue', 'a', '--days', '30'], { from: 'user' });
    expect(issue.options.map((o) => o.long)).toEqual(['--csr', '--deliver', '--days']);
    expect(seen).toEqual([{ deliver: 'files', days: '30' }]);
  });

  it('keeps every default when the same program is parsed again, nested commands included', () => {
    const seen: Record<string, unknown>[] = [];
    const root = program(seen);
    root.parse(['issue', 'a', '--days', '30'], { from: 'user' });
    root.parse(['issue', 'b'], { from: 'user' });
    root.parse(['truststore', 'verify', '--strict'], { from: 'user' });
    root.parse(['truststore', 'verify'], { from: 'user' });
    expect(seen).toEqual([{ deliver: 'files', days: '30' }, { deliver: 'files', days: '365' }, { strict: true, warnDays: '30' }, { warnDays: '30' }]);
  });

  it('lists every option in a help shown without a parse, and [options] in the command list', () => {
    const root = program([]);
    const issue = root.commands.find((c) => c.name() === 'issue')!;
    expect(issue.helpInformation()).toMatch(/--csr <file>[\s\S]*--deliver <where>[\s\S]*--days <n>/);
    expect(root.helpInformation()).toMatch(/issue \[options\] \[id\]/);
  });

  it('rejects an unknown option of a deferred command and suggests a declared one', () => {
    const root = program([]);
    let message = '';
    root.commands[0].configureOutput({ writeErr: (s) => (message += s), writeOut: () => {} });
    expect(() => root.parse(['issue', 'a', '--deliverr', 'x'], { from: 'user' })).toThrow();
    expect(message).toMatch(/unknown option '--deliverr'[\s\S]*Did you mean --deliver\?/);
  });
});
