import { spawn, spawnSync } from 'node:child_process';
import { expect } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { validateOutput } from './json-schema.js';

export const REPO = resolve(import.meta.dirname, '..', '..');
export const BIN = join(REPO, 'bin', 'ca.cjs');
export const PASSPHRASE = 'e2e-passphrase-0123';

export interface CaRun {
  code: number;
  stdout: string;
  stderr: string;
  json: <T = any>() => T;
}

/** Runs the real binary as a user would: a child process, no terminal, in `cwd`. */
export function ca(cwd: string, args: string[], env: Record<string, string | undefined> = {}): CaRun {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, CA_PASSPHRASE: PASSPHRASE, CA_DEBUG: '', NO_COLOR: '1', ...env },
    input: '',
    timeout: 120_000,
  });
  return {
    code: r.status ?? -1,
    stdout: r.stdout,
    stderr: r.stderr,
    json: () => parsed(args, r.status ?? -1, r.stdout),
  };
}

/**
 * The one JSON document a run printed, checked against the published schema of the command that ran
 * (schemas/cli): every e2e test that reads a command's JSON checks the contract too.
 */
function parsed(args: string[], code: number, stdout: string): any {
  const doc = JSON.parse(stdout);
  validateOutput(args, code, doc);
  return doc;
}

export function tempDir(prefix = 'ca-e2e-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A digest of a file (or 'absent'), to prove a failed command changed nothing. */
export function fileDigest(path: string): string {
  return existsSync(path) ? createHash('sha256').update(readFileSync(path)).digest('hex') : 'absent';
}

/** Runs openssl; returns exit code and output instead of throwing. */
export function openssl(args: string[], cwd?: string): { code: number; out: string } {
  const r = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  return { code: r.status ?? -1, out: (r.stdout ?? '') + (r.stderr ?? '') };
}

/** The same as `ca`, without blocking this process (needed when the test itself serves an endpoint the CLI calls). */
export function caAsync(cwd: string, args: string[], env: Record<string, string | undefined> = {}): Promise<CaRun> {
  return new Promise((resolve) => {
    const merged: Record<string, string> = {};
    for (const [k, v] of Object.entries({ ...process.env, CA_PASSPHRASE: PASSPHRASE, CA_DEBUG: '', NO_COLOR: '1', ...env })) if (v !== undefined) merged[k] = v;
    const child = spawn(process.execPath, [BIN, ...args], { cwd, env: merged, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, json: () => parsed(args, code ?? -1, stdout) });
    });
  });
}

/** Asserts the one-line error contract: `error: …` (+ optional `hint: …`), the exit code, and no stack trace. */
export function expectError(r: CaRun, code: number, pattern: RegExp) {
  expect(r.code, r.stderr).toBe(code);
  const lines = r.stderr.trim().split('\n');
  expect(lines[0]).toMatch(/^error: /);
  expect(lines[0]).toMatch(pattern);
  expect(lines.length).toBeLessThanOrEqual(2);
  if (lines[1]) expect(lines[1]).toMatch(/^hint: /);
  expect(r.stderr).not.toMatch(/\bat .+:\d+:\d+/);
}

/**
 * How `caWithReadOnly` makes a directory read-only here: as root, permission bits do not stop writes, so the
 * directory is bind-mounted read-only onto itself inside a private mount namespace (`unshare --mount`) that
 * lives only as long as the one command; as another user, `chmod 0555` does it. undefined: neither works.
 */
export function readOnlyMethod(): 'bind-mount' | 'chmod' | undefined {
  if (process.getuid?.() !== 0) return 'chmod';
  const probe = spawnSync('unshare', ['--mount', '--propagation', 'private', 'true']);
  return probe.status === 0 ? 'bind-mount' : undefined;
}

/**
 * Runs the real binary (as `ca` does) with `dir` read-only for that one command. Before the command runs, the
 * shell proves the directory refuses a new file; if it does not, the run ends with exit 90 (never a ca code).
 */
export function caWithReadOnly(cwd: string, dir: string, args: string[], env: Record<string, string | undefined> = {}): CaRun {
  const method = readOnlyMethod();
  if (!method) throw new Error('cannot make a directory read-only here');
  const script = [
    method === 'bind-mount' ? 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" "$1" || exit 91' : 'chmod 0555 "$1" || exit 91',
    '( : > "$1/.ro-probe" ) 2>/dev/null && { rm -f "$1/.ro-probe"; exit 90; }',
    'd="$1"; shift',
    '"$@"; rc=$?',
    method === 'chmod' ? 'chmod 0755 "$d"' : ':',
    'exit $rc',
  ].join('\n');
  const argv = method === 'bind-mount' ? ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script] : ['sh', '-c', script];
  const r = spawnSync(argv[0]!, [...argv.slice(1), 'sh', dir, process.execPath, BIN, ...args], {
    cwd,
    encoding: 'utf8',
    env: { ...process.env, CA_PASSPHRASE: PASSPHRASE, CA_DEBUG: '', NO_COLOR: '1', ...env },
    input: '',
    timeout: 120_000,
  });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: () => parsed(args, r.status ?? -1, r.stdout) };
}
