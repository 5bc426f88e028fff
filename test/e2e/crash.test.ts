/**
 * Crash injection on the real binary: a command is killed (SIGKILL, or SIGINT to its process group as Ctrl-C
 * sends it) at a seeded point of its run, run again to completion, and the store is then checked for the
 * invariants a finished command leaves. Kill points are of two kinds: a time in the measured duration of an
 * uninterrupted run, and "just after the k-th registry commit" (seen as the k-th line of registry.journal),
 * which lands in every window between two writes, including the one after a rotation's last client.
 *
 * After a re-run, each client's bundle must hold its active certificate and the key that belongs to it: a crash
 * between delivery and commit leaves a bundle ahead of the registry, and the re-run must issue it again.
 */
import { spawn } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { cpSync, existsSync, fstatSync, openSync, readFileSync, readSync, closeSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JsonFileRegistry } from '../../src/adapters/local/json-registry.js';
import { verifyChain } from '../../src/domain/audit.js';
import type { CertificateRecord } from '../../src/ports.js';
import { BIN, PASSPHRASE, ca, openssl, tempDir } from '../helpers/cli.js';

/** clients in each population: with CHUNK per re-issue chunk, a rotation or `renew --all` spans 4 chunks */
const CLIENTS = 160;
const CHUNK = 40;
const ENV = { CA_REISSUE_CHUNK: String(CHUNK), CI: '1' };
/** certificates checked with openssl per check */
const SAMPLE = 3;

/** mulberry32: a small seeded PRNG, so a failing kill point can be replayed */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function scratch(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

function must(r: ReturnType<typeof ca>, what: string): ReturnType<typeof ca> {
  expect(r.code, `${what}: ${r.stderr}`).toBe(0);
  return r;
}

/** The registry as the store holds it now (snapshot plus whatever journal a killed command left). */
async function records(dir: string): Promise<CertificateRecord[]> {
  return new JsonFileRegistry(join(dir, 'pki')).list();
}

/**
 * What the published CRL of each CA says (number and serials), read with OpenSSL, checked to be signed by that
 * CA, its PEM copy equal to its DER file.
 */
function publishedCrl(dir: string, ca: CertificateRecord): { crlNumber: number; serials: string[] } {
  const der = join(dir, 'pki', 'crl', `${ca.serial}.crl`);
  const caFile = join(dir, `crl-signer-${ca.serial}.pem`);
  writeFileSync(caFile, ca.certificatePem);
  const v = openssl(['crl', '-in', der, '-inform', 'DER', '-CAfile', caFile, '-verify', '-noout', '-text']);
  expect(v.code, `openssl crl -verify ${der}: ${v.out}`).toBe(0);
  const pem = readFileSync(join(dir, 'pki', 'crl', `${ca.serial}.crl.pem`), 'utf8');
  expect(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64').equals(readFileSync(der)), `${der}: the PEM copy is the DER file`).toBe(true);
  return {
    crlNumber: Number(/CRL Number:\s*(\d+)/.exec(v.out)![1]),
    serials: [...v.out.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.toLowerCase()),
  };
}

/** Complete lines of registry.journal: its header plus one per commit since the last compaction. */
function journalLines(dir: string): number {
  let fd: number;
  try {
    fd = openSync(join(dir, 'pki', 'registry.journal'), 'r');
  } catch {
    return 0;
  }
  try {
    const buf = Buffer.alloc(fstatSync(fd).size);
    const n = readSync(fd, buf, 0, buf.length, 0);
    let lines = 0;
    for (let i = 0; i < n; i++) if (buf[i] === 0x0a) lines++;
    return lines;
  } finally {
    closeSync(fd);
  }
}

type Kill = { signal: 'SIGKILL' | 'SIGINT' } & ({ afterMs: number } | { afterCommit: number });

interface Killed {
  /** how the killed run ended: a signal, or an exit code when it finished first */
  ended: string;
  describe: string;
}

/**
 * Runs `args` in `dir` and kills it at `kill`. SIGINT goes to the process group (the child leads one), as a
 * terminal's Ctrl-C does; SIGKILL to the process alone, as the OOM killer does.
 */
function runAndKill(dir: string, args: string[], kill: Kill): Promise<Killed> {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: dir,
    env: { ...process.env, CA_PASSPHRASE: PASSPHRASE, CA_DEBUG: '', NO_COLOR: '1', ...ENV },
    stdio: 'ignore',
    detached: true,
  });
  const describe = `${args.join(' ')}: ${kill.signal} ${'afterMs' in kill ? `at ${kill.afterMs} ms` : `after commit ${kill.afterCommit}`}`;
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    try {
      if (kill.signal === 'SIGINT') process.kill(-child.pid!, 'SIGINT');
      else child.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  };
  let timer: NodeJS.Timeout | undefined;
  if ('afterMs' in kill) {
    timer = setTimeout(fire, kill.afterMs);
  } else {
    // the journal's first line is its header; commit k is line k+1 (a store's very first commit is registry.json)
    const poll = () => {
      if (fired) return;
      if (journalLines(dir) >= kill.afterCommit + 1) fire();
      else timer = setTimeout(poll, 1);
    };
    poll();
  }
  return new Promise((resolve) => {
    child.on('exit', (code, signal) => {
      fired = true;
      clearTimeout(timer);
      resolve({ ended: signal ?? `exit ${code}`, describe });
    });
  });
}

/** Asserts that the killed run either finished or was ended by the signal sent (a Ctrl-C exit is 130). */
function expectEndedBy(k: Killed, kill: Kill): void {
  expect(['exit 0', kill.signal, ...(kill.signal === 'SIGINT' ? ['exit 130'] : [])], k.describe).toContain(k.ended);
}

const certFingerprint = (pem: string) => new X509Certificate(pem).fingerprint256.replace(/:/g, '').toLowerCase();
const pemBlocks = (text: string) => text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];

interface Expectation {
  intermediates: number;
  /** clients that must have exactly one active certificate */
  active: string[];
  /** clients none of whose certificates may still be active or superseded */
  revoked?: string[];
  /** every active client certificate was issued by the issuing intermediate */
  allUnderIssuing?: boolean;
  /** the command was run again after the kill, to completion (false: the killed run had finished) */
  rerun: boolean;
  /** the re-run takes the lock, whose release folds the registry journal (default true) */
  foldsJournal?: boolean;
}

/** The invariants every finished command leaves in the local store. */
async function expectInvariants(dir: string, e: Expectation, rand: () => number, label: string): Promise<CertificateRecord[]> {
  // registry.json parses; a completed re-run folded the journal into it, a killed run that had finished left one
  expect(Array.isArray(JSON.parse(readFileSync(join(dir, 'pki', 'registry.json'), 'utf8')).records), `${label}: registry.json`).toBe(true);
  // (a re-run that finds nothing left to do takes no lock, so it folds nothing: `foldsJournal: false`)
  if (e.rerun && e.foldsJournal !== false) expect(existsSync(join(dir, 'pki', 'registry.journal')), `${label}: journal left after a completed run`).toBe(false);
  // and removed what the kill left half-written (temporary files)
  if (e.rerun && e.foldsJournal !== false) expect(readdirSync(join(dir, 'pki')).filter((f) => f.endsWith('.tmp')), `${label}: temporary files left`).toEqual([]);
  const all = await records(dir);
  const roots = all.filter((r) => r.kind === 'root' && r.status === 'active');
  expect(roots, `${label}: active roots`).toHaveLength(1);
  const inters = all.filter((r) => r.kind === 'intermediate' && r.issuerSerial === roots[0]!.serial);
  expect(inters, `${label}: intermediates`).toHaveLength(e.intermediates);
  const issuing = inters.filter((r) => r.status === 'active');
  expect(issuing, `${label}: active intermediates`).toHaveLength(1);
  // an issuing intermediate made by a rotation has recorded the rotation's end
  if (issuing[0]!.rotatedFrom) expect(issuing[0]!.rotationCompletedAt, `${label}: rotation left unfinished`).toBeDefined();

  const clients = all.filter((r) => r.kind === 'client');
  const activeBy = new Map<string, CertificateRecord[]>();
  for (const c of clients) if (c.status === 'active') activeBy.set(c.clientId, [...(activeBy.get(c.clientId) ?? []), c]);
  for (const [id, list] of activeBy) expect(list.length, `${label}: active certificates of ${id}`).toBe(1);
  for (const id of e.active) expect(activeBy.has(id), `${label}: ${id} lost its active certificate`).toBe(true);
  for (const id of e.revoked ?? []) {
    const live = clients.filter((c) => c.clientId === id && (c.status === 'active' || c.status === 'superseded'));
    expect(live, `${label}: ${id} still has accepted certificates`).toEqual([]);
  }
  if (e.allUnderIssuing) for (const [id, [c]] of activeBy) expect(c!.issuerSerial, `${label}: ${id} not under the issuing intermediate`).toBe(issuing[0]!.serial);

  // the audit trail: its chain intact, and exactly one event per change of every client certificate, however the
  // kill fell: its creation, its supersession, its revocation (each a commit whose event is in the same line)
  const registry = new JsonFileRegistry(join(dir, 'pki'));
  const events = await registry.auditEvents();
  expect(verifyChain(events, await registry.auditHead()), `${label}: audit chain`).toMatchObject({ ok: true });
  const named = new Map<string, number>();
  for (const ev of events) if (ev.change === 'registry') for (const s of ev.serials) named.set(s, (named.get(s) ?? 0) + 1);
  for (const c of clients) {
    const changes = 1 + (c.supersededAt ? 1 : 0) + (c.revokedAt ? 1 : 0);
    expect(named.get(c.serial) ?? 0, `${label}: audit events naming ${c.clientId}'s ${c.status} certificate ${c.serial}`).toBe(changes);
  }

  // the published truststore: root + every intermediate not retired, and truststore.pem is its latest version
  const truststore = readFileSync(join(dir, 'pki', 'truststore.pem'), 'utf8');
  const versions = readdirSync(join(dir, 'pki', 'truststore-versions')).map((f) => /^(\d+)\.pem$/.exec(f)?.[1]).filter(Boolean).map(Number);
  expect(readFileSync(join(dir, 'pki', 'truststore-versions', `${Math.max(...versions)}.pem`), 'utf8'), `${label}: truststore.pem is the latest version`).toBe(truststore);
  const trusted = [roots[0]!, ...inters.filter((i) => i.status !== 'retired')].map((r) => r.fingerprint).sort();
  expect(pemBlocks(truststore).map(certFingerprint).sort(), `${label}: truststore holds root + non-retired intermediates`).toEqual(trusted);

  const active = [...activeBy.values()].map((l) => l[0]!);
  if (e.rerun) {
    // after a completed run every client's bundle holds its active certificate (a crash between delivery and
    // commit leaves a bundle ahead of the registry, which the re-run issues again)
    for (const c of active) {
      const crt = join(dir, 'bundles', c.clientId, `${c.clientId}.crt`);
      expect(existsSync(crt) && readFileSync(crt, 'utf8') === c.certificatePem, `${label}: ${crt} holds the active certificate`).toBe(true);
    }
  }
  // a few active client certificates verify against it, and the key beside each belongs to it
  const sample = Array.from({ length: Math.min(SAMPLE, active.length) }, () => active[Math.floor(rand() * active.length)]!);
  for (const c of sample) {
    const key = join(dir, 'bundles', c.clientId, `${c.clientId}.key`);
    if (e.rerun) expect(new X509Certificate(c.certificatePem).checkPrivateKey(createPrivateKey(readFileSync(key))), `${label}: ${key} belongs to the certificate`).toBe(true);
  }
  if (sample.length) {
    const files = sample.map((c, i) => {
      const f = join(dir, `verify-${i}.pem`);
      writeFileSync(f, c.certificatePem);
      return f;
    });
    const v = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'pki', 'truststore.pem'), ...files]);
    expect(v.code, `${label}: openssl verify: ${v.out}`).toBe(0);
    expect(v.out.match(/: OK$/gm) ?? [], `${label}: ${v.out}`).toHaveLength(sample.length);
  }
  return all;
}

const ids = Array.from({ length: CLIENTS }, (_, i) => `c${String(i).padStart(4, '0')}`);

/** Kill points for one command: `timed` seeded times within `durationMs`, plus one just after each of `commits`. */
function killPoints(rand: () => number, durationMs: number, timed: number, commits: number[]): Kill[] {
  const sig = (): Kill['signal'] => (rand() < 0.5 ? 'SIGKILL' : 'SIGINT');
  return [
    ...Array.from({ length: timed }, () => ({ signal: sig(), afterMs: Math.floor(rand() * durationMs) })),
    ...commits.map((afterCommit) => ({ signal: sig(), afterCommit })),
  ];
}

/** Times an uninterrupted run of `args` on a copy of `base`. */
function measure(base: string, args: string[]): number {
  const d = scratch('ca-crash-measure-');
  cpSync(base, d, { recursive: true });
  const t = performance.now();
  must(ca(d, args, ENV), `uninterrupted ${args.join(' ')}`);
  return performance.now() - t;
}

describe('a command killed at any point, then run again, leaves the store a finished run leaves', () => {
  /** bootstrapped, no clients */
  let empty: string;
  /** bootstrapped, CLIENTS clients issued from a file */
  let populated: string;

  beforeAll(() => {
    empty = scratch('ca-crash-empty-');
    must(ca(empty, ['bootstrap'], ENV), 'bootstrap');
    writeFileSync(join(empty, 'clients.json'), JSON.stringify({ clients: ids.map((client_id) => ({ client_id })) }));
    populated = scratch('ca-crash-populated-');
    cpSync(empty, populated, { recursive: true });
    must(ca(populated, ['issue-client', '--from', 'clients.json', '--yes'], ENV), 'issue-client --from');
    // a client with superseded certificates in their grace period besides its active one, for revoke
    must(ca(populated, ['renew', 'c0001'], ENV), 'renew c0001');
    must(ca(populated, ['renew', 'c0001'], ENV), 'renew c0001');
  });

  /** runs ended by their kill (not finished before it) in the current test */
  let interrupted = 0;
  beforeEach(() => {
    interrupted = 0;
  });
  /** kills that all came after the run had finished would prove nothing */
  afterEach((c) => {
    if (c.task.result?.state !== 'fail') expect(interrupted, 'runs interrupted by their kill').toBeGreaterThanOrEqual(3);
  });

  /** Copies `base`, kills `args` there at `kill`, and returns the directory. */
  async function killedCopy(base: string, args: string[], kill: Kill): Promise<{ dir: string; killed: Killed }> {
    const dir = scratch('ca-crash-try-');
    cpSync(base, dir, { recursive: true });
    const killed = await runAndKill(dir, args, kill);
    expectEndedBy(killed, kill);
    if (killed.ended !== 'exit 0') interrupted++;
    return { dir, killed };
  }

  it('rotate-intermediate: one intermediate more, every client moved once, whatever the kill point', { timeout: 120_000 }, async () => {
    const rand = prng(9001);
    const args = ['rotate-intermediate'];
    const duration = measure(populated, args);
    // commits: the new intermediate, 4 chunks, the rotation's end
    for (const kill of killPoints(rand, duration, 6, [1, 2, 3, 4, 5, 6])) {
      const { dir, killed } = await killedCopy(populated, args, kill);
      const left = await records(dir);
      const issuing = left.find((r) => r.kind === 'intermediate' && r.status === 'active')!;
      // a run killed after it recorded the rotation's end has finished: running it again would start another
      const rerun = !issuing.rotationCompletedAt;
      if (rerun) {
        const r = must(ca(dir, [...args, '--json'], ENV), `re-run after ${killed.describe}`);
        // the re-run creates the new intermediate only when the killed run had not recorded it
        const recorded = left.filter((x) => x.kind === 'intermediate').length > 1;
        expect(r.json().plan.newIntermediate, `re-run after ${killed.describe}`).toBe(!recorded);
      }
      await expectInvariants(dir, { intermediates: 2, active: ids, allUnderIssuing: true, rerun }, rand, killed.describe);
    }
  });

  it('issue-client --from: every listed client gets exactly one certificate', { timeout: 120_000 }, async () => {
    const rand = prng(9002);
    const args = ['issue-client', '--from', 'clients.json', '--yes'];
    const duration = measure(empty, args);
    // one commit per chunk of CHUNK clients (4): kills after the first, a middle one and the last but one all
    // interrupt the run (kill points past the last commit, as "one commit per client" once gave, never fire)
    const commits = CLIENTS / CHUNK;
    for (const kill of killPoints(rand, duration, 3, [1, 2 + Math.floor(rand() * (commits - 2)), commits - 1])) {
      const { dir, killed } = await killedCopy(empty, args, kill);
      must(ca(dir, args, ENV), `re-run after ${killed.describe}`);
      await expectInvariants(dir, { intermediates: 1, active: ids, rerun: true }, rand, killed.describe);
    }
  });

  it('renew --all: every client keeps exactly one active certificate', { timeout: 120_000 }, async () => {
    const rand = prng(9003);
    const args = ['renew', '--all'];
    const duration = measure(populated, args);
    // commits: 4 chunks
    for (const kill of killPoints(rand, duration, 3, [1, 4])) {
      const { dir, killed } = await killedCopy(populated, args, kill);
      must(ca(dir, args, ENV), `re-run after ${killed.describe}`);
      await expectInvariants(dir, { intermediates: 1, active: ids, rerun: true }, rand, killed.describe);
    }
  });

  it('revoke: the client ends with nothing accepted, the others untouched', { timeout: 120_000 }, async () => {
    const rand = prng(9004);
    const args = ['revoke', 'c0001', '--reason', 'keyCompromise', '--yes'];
    const duration = measure(populated, args);
    for (const kill of killPoints(rand, duration, 4, [1])) {
      const { dir, killed } = await killedCopy(populated, args, kill);
      must(ca(dir, args, ENV), `re-run after ${killed.describe}`);
      // revoke checks before it locks: a re-run after a kill that came after its last commit has nothing to do
      const all = await expectInvariants(dir, { intermediates: 1, active: ids.filter((id) => id !== 'c0001'), revoked: ['c0001'], rerun: true, foldsJournal: false }, rand, killed.describe);
      // and the issuer's CRL lists every certificate of c0001, whether the kill came before or after the commit
      // (a re-run with nothing left to revoke re-signs a CRL that misses them)
      const issuing = all.find((r) => r.kind === 'intermediate' && r.status === 'active')!;
      const crl = publishedCrl(dir, issuing);
      const gone = all.filter((r) => r.clientId === 'c0001' && r.status === 'revoked').map((r) => r.serial);
      expect(gone.length, killed.describe).toBeGreaterThanOrEqual(3);
      expect(crl.serials.sort(), `${killed.describe}: CRL entries`).toEqual(gone.sort());
      expect(crl.crlNumber, killed.describe).toBe(all.find((r) => r.serial === issuing.serial)!.crlNumber);
    }
  });

  it('crl: a kill between recording a CRL number and publishing its CRL skips the number, never repeats it', { timeout: 120_000 }, async () => {
    const rand = prng(9006);
    const base = scratch('ca-crash-crl-');
    cpSync(empty, base, { recursive: true });
    must(ca(base, ['crl'], ENV), 'first crl');
    const args = ['crl'];
    const duration = measure(base, args);
    // commits: the issuing intermediate's number, then the root's; killed just after each lands between the
    // record and the publication
    for (const kill of killPoints(rand, duration, 4, [1, 2])) {
      const { dir, killed } = await killedCopy(base, args, kill);
      const afterKill = await records(dir);
      must(ca(dir, args, ENV), `re-run after ${killed.describe}`);
      const all = await expectInvariants(dir, { intermediates: 1, active: [], rerun: true }, rand, killed.describe);
      for (const c of all.filter((r) => (r.kind === 'root' || r.kind === 'intermediate') && r.status === 'active')) {
        const recordedByKilled = afterKill.find((r) => r.serial === c.serial)!.crlNumber ?? 0;
        const crl = publishedCrl(dir, c);
        // the re-run's number is past everything the killed run may have recorded, and is what the registry holds
        expect(crl.crlNumber, `${killed.describe}: ${c.kind} CRL number`).toBe(recordedByKilled + 1);
        expect(c.crlNumber, killed.describe).toBe(crl.crlNumber);
        expect(crl.crlNumber, killed.describe).toBeGreaterThanOrEqual(2);
      }
    }
  });

  it('bootstrap: one root, one intermediate, both published', { timeout: 120_000 }, async () => {
    const rand = prng(9005);
    const args = ['bootstrap'];
    const fresh = scratch('ca-crash-fresh-');
    const duration = measure(fresh, args);
    // commits: the root (the store's first: registry.json itself), then the intermediate (journal line)
    for (const kill of killPoints(rand, duration, 5, [1])) {
      const { dir, killed } = await killedCopy(fresh, args, kill);
      const rerun = ca(dir, args, ENV);
      if (rerun.code !== 0) {
        // the killed run had finished: the CA exists and is published, and a second bootstrap is refused
        expect(rerun.code, `re-run after ${killed.describe}: ${rerun.stderr}`).toBe(5);
        expect(rerun.stderr).toMatch(/a CA already exists/);
      }
      await expectInvariants(dir, { intermediates: 1, active: [], rerun: true }, rand, killed.describe);
    }
  });
});
