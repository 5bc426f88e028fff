/**
 * The local registry's journal: commits as appended lines, replay on load, a commit cut short by a crash, a
 * compaction cut short, compaction at lock release, and a reader in another process that sees every commit.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonFileRegistry } from '../../src/adapters/local/json-registry.js';
import { createLocalStore } from '../../src/adapters/local/local-store.js';
import { CaError } from '../../src/domain/errors.js';
import type { CertificateRecord, RegistryChange } from '../../src/ports.js';
import { fakeRecord as record } from '../helpers/records.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ca-journal-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const create = (r: CertificateRecord): RegistryChange => ({ op: 'create', record: r });
const sorted = (rs: CertificateRecord[]) => [...rs].sort((a, b) => a.serial.localeCompare(b.serial));
const journalOf = (dir: string) => join(dir, 'registry.journal');
const snapshotOf = (dir: string) => join(dir, 'registry.json');

/** A store with a snapshot (the first commit writes one) and two commits in the journal. */
async function withJournal() {
  const dir = tmp();
  const reg = new JsonFileRegistry(dir);
  const a = record({ clientId: 'a' });
  const b = record({ clientId: 'b' });
  const c = record({ clientId: 'c' });
  await reg.commit([create(a)]);
  const snapshot = readFileSync(snapshotOf(dir));
  await reg.commit([create(b)]);
  const bSup = { ...b, status: 'superseded' as const, supersededBy: c.serial };
  await reg.commit([create({ ...c, clientId: 'b' }), { op: 'update', expect: 'active', record: bSup }]);
  return { dir, reg, a, bSup, c: { ...c, clientId: 'b' }, snapshot };
}

describe('JsonFileRegistry journal', () => {
  it('appends commits to the journal and replays them in a fresh instance; compaction folds them into registry.json', async () => {
    const { dir, reg, a, bSup, c, snapshot } = await withJournal();
    expect(readFileSync(snapshotOf(dir)).equals(snapshot), 'registry.json is not rewritten per commit').toBe(true);
    expect(readFileSync(journalOf(dir), 'utf8').trim().split('\n')).toHaveLength(3); // header + 2 commits
    const all = sorted([a, bSup, c]);
    expect(sorted(await new JsonFileRegistry(dir).list())).toEqual(all);
    reg.compact();
    expect(existsSync(journalOf(dir))).toBe(false);
    const doc = JSON.parse(readFileSync(snapshotOf(dir), 'utf8'));
    expect(sorted(doc.records)).toEqual(all);
    expect(sorted(await new JsonFileRegistry(dir).list())).toEqual(all);
    // and on: commits after a compaction start a journal of the new generation
    const d = record({ clientId: 'd' });
    await reg.commit([create(d)]);
    expect(sorted(await new JsonFileRegistry(dir).list())).toEqual(sorted([...all, d]));
  });

  it('reads a registry.json written before the journal existed (no generation)', async () => {
    const dir = tmp();
    const old = [record({ clientId: 'x' }), record({ clientId: 'y' })];
    writeFileSync(snapshotOf(dir), JSON.stringify({ format: 1, records: old }));
    const reg = new JsonFileRegistry(dir);
    expect(sorted(await reg.list())).toEqual(sorted(old));
    const z = record({ clientId: 'z' });
    await reg.commit([create(z)]);
    expect(sorted(await new JsonFileRegistry(dir).list())).toEqual(sorted([...old, z]));
  });

  it('a commit cut short by a crash (no final newline) did not happen, and the next commit replaces it', async () => {
    const { dir, a, bSup, c } = await withJournal();
    const line = JSON.stringify({ seq: 3, records: [record({ clientId: 'torn' })] }) + '\n';
    for (const cut of [1, Math.floor(line.length / 2), line.length - 1]) {
      const before = readFileSync(journalOf(dir));
      appendFileSync(journalOf(dir), line.slice(0, cut));
      const fresh = new JsonFileRegistry(dir);
      expect(sorted(await fresh.list())).toEqual(sorted([a, bSup, c]));
      writeFileSync(journalOf(dir), before);
    }
    // zeros past the end, as a file system may show after a crash, are the same case
    appendFileSync(journalOf(dir), Buffer.alloc(512));
    const reg = new JsonFileRegistry(dir);
    expect(await reg.list({ clientId: 'torn' })).toEqual([]);
    const e = record({ clientId: 'e' });
    await reg.commit([create(e)]);
    const text = readFileSync(journalOf(dir), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    expect(text).not.toContain('\u0000');
    expect(sorted(await new JsonFileRegistry(dir).list())).toEqual(sorted([a, bSup, c, e]));
  });

  it('refuses to guess around damage in the middle of the journal', async () => {
    const { dir } = await withJournal();
    const lines = readFileSync(journalOf(dir), 'utf8').split('\n');
    lines[1] = lines[1]!.slice(0, 40);
    writeFileSync(journalOf(dir), lines.join('\n'));
    const err = await new JsonFileRegistry(dir).list().catch((x: unknown) => x);
    expect(err).toBeInstanceOf(CaError);
    expect((err as CaError).code).toBe('storage');
  });

  it('ignores the journal a compaction cut short (registry.json already holds it), and the next commit replaces it', async () => {
    const { dir, reg, a, bSup, c } = await withJournal();
    const stale = readFileSync(journalOf(dir));
    reg.compact();
    // the crash: registry.json of the new generation is in place, the old journal not yet removed
    writeFileSync(journalOf(dir), stale);
    const fresh = new JsonFileRegistry(dir);
    expect(sorted(await fresh.list())).toEqual(sorted([a, bSup, c]));
    const f = record({ clientId: 'f' });
    await fresh.commit([create(f)]);
    expect(readFileSync(journalOf(dir), 'utf8')).not.toContain(a.serial);
    expect(sorted(await new JsonFileRegistry(dir).list())).toEqual(sorted([a, bSup, c, f]));
  });

  it('compacts during a commit once the journal outgrows its threshold', async () => {
    const dir = tmp();
    const reg = new JsonFileRegistry(dir, { compactAtBytes: 4096 });
    const rs = Array.from({ length: 8 }, (_, i) => record({ clientId: `c${i}` }));
    for (const r of rs) await reg.commit([create(r)]);
    expect(statSync(snapshotOf(dir)).size).toBeGreaterThan(4096);
    expect(existsSync(journalOf(dir)) ? statSync(journalOf(dir)).size : 0).toBeLessThan(2 * statSync(snapshotOf(dir)).size);
    expect(sorted(await new JsonFileRegistry(dir).list())).toEqual(sorted(rs));
  });

  it('a failed commit writes nothing', async () => {
    const { dir, reg, a } = await withJournal();
    const before = readFileSync(journalOf(dir));
    // the same serial with other content (the very same record would be a retry that already landed)
    await expect(reg.commit([create(record({ clientId: 'g' })), create({ ...a, fingerprint: 'f'.repeat(64) })])).rejects.toThrow(/already in the registry/);
    expect(readFileSync(journalOf(dir)).equals(before)).toBe(true);
    expect(await reg.list({ clientId: 'g' })).toEqual([]);
  });

  it('the local store folds the journal into registry.json when its lock is released', async () => {
    const dir = join(tmp(), 'store');
    const store = createLocalStore({ dir, passphrase: async () => 'unused-passphrase' });
    const rs = Array.from({ length: 3 }, (_, i) => record({ clientId: `l${i}` }));
    await store.lock.withLock(async () => {
      for (const r of rs) await store.registry.commit([create(r)]);
      expect(existsSync(journalOf(dir))).toBe(true);
    });
    expect(existsSync(journalOf(dir))).toBe(false);
    expect(existsSync(join(dir, '.lock'))).toBe(false);
    expect(sorted(JSON.parse(readFileSync(snapshotOf(dir), 'utf8')).records)).toEqual(sorted(rs));
    expect(statSync(snapshotOf(dir)).mode & 0o777).toBe(0o600);
  });
});

describe('JsonFileRegistry read by another process', () => {
  let entry: string;
  beforeAll(async () => {
    // the registry bundled into a script a child process runs: `get <serial>` and `count` on stdin
    const dir = tmp();
    writeFileSync(
      join(dir, 'reader.ts'),
      [
        `import { createInterface } from 'node:readline';`,
        `import { JsonFileRegistry } from ${JSON.stringify(resolve('src/adapters/local/json-registry.ts'))};`,
        `const reg = new JsonFileRegistry(process.argv[2]!);`,
        `for await (const line of createInterface({ input: process.stdin })) {`,
        `  const [cmd, arg] = line.split(' ');`,
        `  try {`,
        `    const out = cmd === 'get' ? ((await reg.get(arg!))?.status ?? 'none') : String((await reg.list()).length);`,
        `    process.stdout.write(out + '\\n');`,
        `  } catch (e) { process.stdout.write('error ' + (e as Error).message + '\\n'); }`,
        `}`,
      ].join('\n'),
    );
    entry = join(dir, 'reader.mjs');
    await build({ entryPoints: [join(dir, 'reader.ts')], outfile: entry, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning' });
  });

  function reader(storeDir: string) {
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, [entry, storeDir]);
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    return {
      ask: async (q: string) => {
        child.stdin.write(q + '\n');
        return (await lines.next()).value as string;
      },
      close: () => child.kill(),
    };
  }

  it('sees every commit, through compactions, reading only new lines', async () => {
    const dir = tmp();
    const reg = new JsonFileRegistry(dir);
    const first = record({ clientId: 'p0' });
    await reg.commit([create(first)]);
    const r = reader(dir);
    try {
      expect(await r.ask(`get ${first.serial}`)).toBe('active');
      const created: CertificateRecord[] = [first];
      for (let i = 1; i <= 6; i++) {
        const next = record({ clientId: `p${i}` });
        await reg.commit([create(next)]);
        created.push(next);
        expect(await r.ask(`get ${next.serial}`)).toBe('active');
        if (i % 3 === 0) reg.compact();
        expect(await r.ask('count')).toBe(String(created.length));
      }
      await reg.commit([{ op: 'update', expect: 'active', record: { ...first, status: 'revoked', revokedAt: '2026-03-02T00:00:00.000Z' } }]);
      expect(await r.ask(`get ${first.serial}`)).toBe('revoked');
      // a commit in progress (a line without its newline yet) is not seen until it completes
      const pending = record({ clientId: 'late' });
      const line = JSON.stringify({ seq: 99, records: [pending] }) + '\n';
      appendFileSync(journalOf(dir), line.slice(0, 100));
      expect(await r.ask(`get ${pending.serial}`)).toBe('none');
      appendFileSync(journalOf(dir), line.slice(100));
      expect(await r.ask(`get ${pending.serial}`)).toBe('active');
    } finally {
      r.close();
    }
  });

  it('sees registry.json replaced by a compaction while its journal is gone', async () => {
    const dir = tmp();
    const reg = new JsonFileRegistry(dir);
    const rs = Array.from({ length: 3 }, (_, i) => record({ clientId: `q${i}` }));
    await reg.commit([create(rs[0]!)]);
    await reg.commit([create(rs[1]!)]);
    const r = reader(dir);
    try {
      expect(await r.ask('count')).toBe('2');
      reg.compact();
      // the journal the reader knew is gone; a new one of the next generation begins
      await reg.commit([create(rs[2]!)]);
      expect(await r.ask(`get ${rs[2]!.serial}`)).toBe('active');
      expect(await r.ask('count')).toBe('3');
    } finally {
      r.close();
    }
  });
});

describe('temporary files a killed command left', () => {
  it('are removed by the next command that holds the store lock; other files stay', async () => {
    const { createLocalStore } = await import('../../src/adapters/local/local-store.js');
    const { mkdirSync, writeFileSync, readdirSync } = await import('node:fs');
    const d = tmp();
    const store = createLocalStore({ dir: d, passphrase: async () => 'unused-passphrase' });
    mkdirSync(join(d, 'keys'), { recursive: true });
    mkdirSync(join(d, 'truststore-versions'), { recursive: true });
    // what writeFileAtomic leaves when a kill lands between its write and its rename
    writeFileSync(join(d, 'registry.json.1a2b3c4d0.tmp'), 'half');
    writeFileSync(join(d, 'keys', 'root-x.key.pem.deadbeefz1.tmp'), 'half');
    writeFileSync(join(d, 'truststore-versions', '3.pem.0123abcd2.tmp'), 'half');
    writeFileSync(join(d, 'notes.tmp'), 'mine');
    await store.lock.withLock(async () => undefined);
    expect(readdirSync(d).sort()).toEqual(['keys', 'notes.tmp', 'truststore-versions']);
    expect(readdirSync(join(d, 'keys'))).toEqual([]);
    expect(readdirSync(join(d, 'truststore-versions'))).toEqual([]);
  });
});
