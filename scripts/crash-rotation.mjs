#!/usr/bin/env node
// Kills `ca rotate-intermediate` on the local store and runs it again, then counts intermediates: the experiment
// behind the crash test (test/e2e/crash.test.ts), at a scale the test suite cannot afford. Outside `npm test`.
//
//   node scripts/crash-rotation.mjs [--clients 2000] [--tries 24] [--seed 1] [--bin bin/ca.cjs]
//
// Half the tries kill at a random time within a measured uninterrupted rotation, half just after the k-th
// registry commit (the k-th line after the header of pki/registry.journal). SIGKILL goes to the process, SIGINT
// to its process group (as Ctrl-C). A run that finished before its kill, or that recorded the rotation's end, is
// complete and is not run again (running it again would rotate anew); every other one must end, after its re-run,
// with exactly one intermediate more than before.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const { values: a } = parseArgs({ options: { clients: { type: 'string', default: '2000' }, tries: { type: 'string', default: '24' }, seed: { type: 'string', default: '1' }, bin: { type: 'string' } } });
const BIN = resolve(a.bin ?? join(dirname(new URL(import.meta.url).pathname), '..', 'bin', 'ca.cjs'));
const N = Number(a.clients);
const TRIES = Number(a.tries);
let seed = Number(a.seed) >>> 0;
const rand = () => {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
};
const env = { ...process.env, CA_PASSPHRASE: process.env.CA_PASSPHRASE ?? 'crash-rotation-passphrase', CI: '1' };
const ca = (cwd, args) => spawnSync(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8', maxBuffer: 1 << 30 });
const must = (r, what) => {
  if (r.status !== 0) throw new Error(`${what} failed: ${r.stderr}`);
  return r;
};
/** every record, the journal a killed run left replayed on top of registry.json */
function records(dir) {
  const m = new Map(JSON.parse(readFileSync(join(dir, 'pki', 'registry.json'), 'utf8')).records.map((r) => [r.serial, r]));
  const j = join(dir, 'pki', 'registry.journal');
  if (existsSync(j)) {
    const [header, ...lines] = readFileSync(j, 'utf8').split('\n');
    const { generation } = JSON.parse(header);
    if (generation === JSON.parse(readFileSync(join(dir, 'pki', 'registry.json'), 'utf8')).generation) {
      for (const l of lines.slice(0, -1)) for (const r of JSON.parse(l).records) m.set(r.serial, r);
    }
  }
  return [...m.values()];
}
const journalLines = (dir) => {
  try {
    return readFileSync(join(dir, 'pki', 'registry.journal')).toString().split('\n').length - 1;
  } catch {
    return 0;
  }
};

const root = mkdtempSync(join(tmpdir(), 'ca-crash-rotation-'));
try {
  const base = join(root, 'base');
  mkdirSync(base);
  must(ca(base, ['bootstrap']), 'bootstrap');
  writeFileSync(join(base, 'clients.json'), JSON.stringify({ clients: Array.from({ length: N }, (_, i) => ({ client_id: `c${String(i).padStart(5, '0')}` })) }));
  must(ca(base, ['issue-client', '--from', 'clients.json', '--yes']), 'issue-client --from');
  const measured = join(root, 'measure');
  cpSync(base, measured, { recursive: true });
  const t0 = performance.now();
  must(ca(measured, ['rotate-intermediate']), 'rotate-intermediate');
  const duration = performance.now() - t0;
  // commits of a rotation: the new intermediate, one per chunk of 990 clients, the rotation's end
  const commits = 2 + Math.ceil(N / 990);
  console.log(`${N} clients; an uninterrupted rotation takes ${Math.round(duration)} ms and makes ${commits} commits`);
  const before = records(base).filter((r) => r.kind === 'intermediate').length;
  let bad = 0;
  for (let i = 0; i < TRIES; i++) {
    const dir = join(root, `try-${i}`);
    cpSync(base, dir, { recursive: true });
    const signal = rand() < 0.5 ? 'SIGKILL' : 'SIGINT';
    const point = i % 2 ? { afterCommit: 1 + Math.floor(rand() * commits) } : { afterMs: Math.floor(rand() * duration) };
    const child = spawn(process.execPath, [BIN, 'rotate-intermediate'], { cwd: dir, env, stdio: 'ignore', detached: true });
    let fired = false;
    const fire = () => {
      if (fired) return;
      fired = true;
      try {
        if (signal === 'SIGINT') process.kill(-child.pid, 'SIGINT');
        else child.kill('SIGKILL');
      } catch {
        /* gone */
      }
    };
    let timer;
    if ('afterMs' in point) timer = setTimeout(fire, point.afterMs);
    else {
      const poll = () => (fired ? undefined : journalLines(dir) >= point.afterCommit + 1 ? fire() : (timer = setTimeout(poll, 1)));
      poll();
    }
    const ended = await new Promise((res) => child.on('exit', (code, sig) => (fired = true, clearTimeout(timer), res(sig ?? `exit ${code}`))));
    const issuing = records(dir).find((r) => r.kind === 'intermediate' && r.status === 'active');
    const complete = ended === 'exit 0' || !!issuing.rotationCompletedAt;
    if (!complete) must(ca(dir, ['rotate-intermediate']), 're-run');
    const after = records(dir).filter((r) => r.kind === 'intermediate').length;
    const ok = after === before + 1;
    if (!ok) bad++;
    const at = 'afterMs' in point ? `at ${point.afterMs} ms` : `after commit ${point.afterCommit}`;
    console.log(`try ${i}: ${signal} ${at}: ${ended}${complete ? ', complete' : ', re-run'}; intermediates ${before} -> ${after}${ok ? '' : '  EXTRA'}`);
    rmSync(dir, { recursive: true, force: true });
  }
  console.log(`${bad} of ${TRIES} tries ended with an extra intermediate`);
  process.exitCode = bad ? 1 : 0;
} finally {
  rmSync(root, { recursive: true, force: true });
}
