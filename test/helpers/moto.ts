import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const MOTO_VERSION = '5.2.5';
const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const venv = join(repo, '.venv');
const motoServer = join(venv, 'bin', 'moto_server');

/**
 * Installs the Python tools of requirements-test.txt (moto, cfn-lint, PyJWT) into `<repo>/.venv` when they are not
 * there yet or the file changed since the last install (a stamp holds its hash), so a fresh machine needs only
 * `npm test`.
 */
export function ensurePythonTools(): void {
  const requirements = join(repo, 'requirements-test.txt');
  const stamp = join(venv, '.requirements-test.sha256');
  const want = createHash('sha256').update(readFileSync(requirements)).digest('hex');
  if (existsSync(motoServer) && existsSync(stamp) && readFileSync(stamp, 'utf8').trim() === want) return;
  if (!existsSync(join(venv, 'bin', 'pip'))) execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  execFileSync(join(venv, 'bin', 'pip'), ['install', '--quiet', '-r', requirements], { stdio: 'inherit' });
  writeFileSync(stamp, `${want}\n`);
}

/** The Python interpreter of `<repo>/.venv` (PyJWT, cryptography, cfn-lint are importable there). */
export const VENV_PYTHON = join(venv, 'bin', 'python');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

async function answers(url: string): Promise<boolean> {
  try {
    const r = await fetch(url, { signal: AbortSignal.timeout(1000) });
    return r.ok;
  } catch {
    return false;
  }
}

/** Starts a moto server on a free loopback port; resolves once it answers (bounded at 60 s). */
export async function startMoto(): Promise<{ endpoint: string; stop(): Promise<void> }> {
  ensurePythonTools();
  const port = await freePort();
  const endpoint = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(motoServer, ['-H', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    }
  };
  const deadline = Date.now() + 60_000;
  while (!(await answers(`${endpoint}/moto-api/`))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      await stop();
      throw new Error(`moto_server did not start on ${endpoint}: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  return { endpoint, stop };
}
