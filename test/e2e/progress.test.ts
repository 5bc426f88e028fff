import { describe, it, expect } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ca, PASSPHRASE, REPO, tempDir } from '../helpers/cli.js';

/** The CLI on a real pseudo-terminal (test/helpers/pty-run.py): what the terminal showed, and the exit code. */
function onTerminal(cwd: string, script: [string, string][], args: string[]): { exit: number; output: string } {
  const out = execFileSync('python3', [join(REPO, 'test', 'helpers', 'pty-run.py'), JSON.stringify(script), ...args], { cwd, encoding: 'utf8', timeout: 90_000 });
  return JSON.parse(out.trim().split('\n').pop()!);
}

/** A CA, a passphrase file (pty-run.py passes no CA_PASSPHRASE) and a provisioning file of `n` new clients. */
function provisioning(n: number): { dir: string; ids: string[]; args: string[] } {
  const dir = tempDir('ca-progress-');
  const b = ca(dir, ['bootstrap']);
  expect(b.code, b.stderr).toBe(0);
  writeFileSync(join(dir, 'pass.txt'), PASSPHRASE + '\n', { mode: 0o600 });
  const ids = Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(4, '0')}`);
  writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: ids.map((client_id) => ({ client_id })) }));
  return { dir, ids, args: ['issue-client', '--from', 'clients.json', '--out', 'bundles', '--passphrase-file', 'pass.txt'] };
}

const bundles = (dir: string) => readdirSync(join(dir, 'bundles')).filter((f) => !f.startsWith('.')).sort();

describe('progress of ca issue-client --from', () => {
  it('prints the summary after the table, as its last line', () => {
    const { dir, args } = provisioning(3);
    const r = ca(dir, args);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^CLIENT\s+ACTION\s+SERIAL/);
    expect(lines.at(-1)).toBe('issued 3, skipped 0 (already active)');
  });

  it('on a terminal, the bar shows the rate and the time left, and the summary comes last', () => {
    const { dir, ids, args } = provisioning(600);
    const r = onTerminal(dir, [], args);
    expect(r.exit, r.output).toBe(0);
    // e.g. "issuing [####----] 200/600 33% 412/s, 1s left"
    expect(r.output).toMatch(/issuing \[[#-]+\] \d+\/600 \d+% [\d,]+\/s, \d+(m\d\ds)?s? left/);
    expect(r.output).toMatch(/issuing \[#+\] 600\/600 100% [\d,]+\/s, in \d+/);
    expect(r.output.trim().split(/\r?\n/).at(-1)).toBe('issued 600, skipped 0 (already active)');
    expect(bundles(dir)).toEqual(ids);
  });

  it('Ctrl-C on a terminal stops after the current batch, says what was done and how to resume, exits 130; the re-run finishes', () => {
    const n = 1000;
    const { dir, ids, args } = provisioning(n);
    // Ctrl-C once the bar shows a rate, i.e. after the first batch of 100 is recorded
    const r = onTerminal(dir, [['/s, ', '\x03']], args);
    expect(r.exit, r.output).toBe(130);
    expect(r.output).toMatch(/\nstopping after the current batch \(issued [\d,]+ of 1,000 so far\); Ctrl-C again to stop at once/);
    const m = r.output.match(/error: interrupted: issued ([\d,]+) of 1,000\r?\nhint: re-run the same command: it finishes what is left/);
    expect(m, r.output).not.toBeNull();
    expect(r.output).not.toMatch(/\bat .+:\d+:\d+/);
    const done = Number(m![1]!.replace(/,/g, ''));
    expect(done).toBeGreaterThanOrEqual(100);
    expect(done).toBeLessThan(n);
    // exactly what was said is in place; the same command finishes the rest
    expect(bundles(dir)).toEqual(ids.slice(0, done));
    const again = ca(dir, args);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout.trim().split('\n').at(-1)).toBe(`issued ${n - done}, skipped ${done} (already active)`);
    expect(bundles(dir)).toEqual(ids);
    // and nothing is issued twice: a third run has nothing left to do
    const third = ca(dir, args);
    expect(third.stdout.trim().split('\n').at(-1)).toBe(`issued 0, skipped ${n} (already active)`);
  });
});
