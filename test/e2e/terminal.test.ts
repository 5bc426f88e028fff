import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, tempDir } from '../helpers/cli.js';

/** The CLI on a real pseudo-terminal: prompts appear, keys are typed, Ctrl-C is pressed. */
function onTerminal(cwd: string, script: [string, string][], args: string[]): { exit: number; output: string } {
  const out = execFileSync('python3', [join(REPO, 'test', 'helpers', 'pty-run.py'), JSON.stringify(script), ...args], { cwd, encoding: 'utf8', timeout: 90_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

describe('on a terminal', () => {
  it('asks for the CA passphrase twice, hidden, and bootstraps with it', () => {
    const dir = tempDir('ca-tty-');
    const r = onTerminal(dir, [['New CA key passphrase', 'typed-on-terminal\r'], ['(again)', 'typed-on-terminal\r']], ['bootstrap']);
    expect(r.exit, r.output).toBe(0);
    expect(r.output).not.toContain('typed-on-terminal');
    expect(r.output).toMatch(/Created a CA/);
    const keys = readdirSync(join(dir, 'pki', 'keys'));
    expect(readFileSync(join(dir, 'pki', 'keys', keys[0]!), 'utf8')).toMatch(/ENCRYPTED PRIVATE KEY/);
  });

  it('a short or mismatched new passphrase is asked again, three tries, then refused with the code an environment value gets (3)', () => {
    const dir = tempDir('ca-tty-');
    const ok = onTerminal(
      dir,
      [['New CA key passphrase', 'short\r'], ['try again', ''], ['New CA key passphrase', 'typed-on-terminal\r'], ['(again)', 'different-entry\r'], ['2 tries', ''], ['New CA key passphrase', 'typed-on-terminal\r'], ['(again)', 'typed-on-terminal\r']],
      ['bootstrap'],
    );
    expect(ok.exit, ok.output).toBe(0);
    expect(ok.output).toMatch(/at least 8 characters: try again \(2 tries left\)/);
    expect(ok.output).toMatch(/the two entries differ: try again \(1 try left\)/);
    expect(ok.output).toMatch(/Created a CA/);
    const fresh = tempDir('ca-tty-');
    const r = onTerminal(fresh, [['New CA key passphrase', 'a\r'], ['2 tries', ''], ['New CA key passphrase', 'b\r'], ['1 try', ''], ['New CA key passphrase', 'c\r']], ['bootstrap']);
    expect(r.exit, r.output).toBe(3);
    expect(r.output).toMatch(/error: the CA passphrase must be at least 8 characters \(3 tries\)/);
    expect(existsSync(join(fresh, 'pki'))).toBe(false);
  });

  it('Ctrl-C at a prompt exits 130 with one line and changes nothing', () => {
    const dir = tempDir('ca-tty-');
    const r = onTerminal(dir, [['New CA key passphrase', '\x03']], ['bootstrap']);
    expect(r.exit).toBe(130);
    expect(r.output).toMatch(/error: cancelled/);
    expect(r.output).not.toMatch(/\bat .+:\d+:\d+/);
    expect(existsSync(join(dir, 'pki'))).toBe(false);
  });

  it('a declined confirmation cancels and changes nothing', () => {
    const dir = tempDir('ca-tty-');
    const first = onTerminal(dir, [['New CA key passphrase', 'typed-on-terminal\r'], ['(again)', 'typed-on-terminal\r']], ['bootstrap']);
    expect(first.exit, first.output).toBe(0);
    const before = readFileSync(join(dir, 'pki', 'registry.json'));
    const r = onTerminal(dir, [['Replace the CA', 'n\r']], ['bootstrap', '--force']);
    expect(r.exit, r.output).toBe(130);
    expect(readFileSync(join(dir, 'pki', 'registry.json')).equals(before)).toBe(true);
  });
});
