import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { chmodSync, closeSync, existsSync, readdirSync, fsyncSync, mkdirSync, openSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Readable, Writable } from 'node:stream';

/** a directory that receives a private key is private too */
export const dirModeFor = (fileMode: number) => (fileMode & 0o077 ? 0o755 : 0o700);

/** unique per process (a random prefix) and per file (a counter): cheaper than random bytes for each of thousands */
const tmpPrefix = randomBytes(4).toString('hex');
let tmpCounter = 0;
const tmpName = (path: string) => `${path}.${tmpPrefix}${(tmpCounter++).toString(36)}.tmp`;
/** What tmpName makes, whichever process made it: `<file>.<8 hex><counter>.tmp`. */
const TMP_NAME = /\.[0-9a-f]{8}[0-9a-z]+\.tmp$/;

/**
 * Removes the temporary files a killed command left in `dirs` (a write is a temporary file renamed into place,
 * so a kill between the two leaves one). Call it only while holding the store's lock: then no other command is
 * writing there. Returns how many were removed.
 */
export function sweepTemporaryFiles(dirs: string[]): number {
  let removed = 0;
  for (const d of dirs) {
    let names: string[];
    try {
      names = readdirSync(d);
    } catch {
      continue;
    }
    for (const n of names) {
      if (!TMP_NAME.test(n)) continue;
      rmSync(join(d, n), { force: true });
      removed++;
    }
  }
  return removed;
}

/**
 * Makes a directory's entries (files created, renamed or removed in it) durable: a rename is only on disk once
 * its directory is, whatever happened to the file's content. Windows cannot open a directory (and its
 * NTFS journal makes the rename durable with the file), hence the skip there.
 */
export function fsyncDir(dir: string): void {
  if (process.platform === 'win32') return;
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

export async function fsyncDirAsync(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const h = await open(dir, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/**
 * The directories whose entries a `mkdir -p` of `dir` changed, given what mkdir returned (the first directory
 * it created, or undefined): the parent of the first new one, and each new one but the last.
 */
export function changedByMkdir(dir: string, firstCreated: string | undefined): string[] {
  if (!firstCreated) return [];
  // the common case, one new directory in an existing one (path.relative costs more than the mkdir's own work)
  if (firstCreated === dir) return [dirname(dir)];
  const out = [dirname(firstCreated)];
  const rest = relative(firstCreated, dir);
  let d = firstCreated;
  for (const part of rest ? rest.split(sep) : []) {
    out.push(d);
    d = join(d, part);
  }
  return out;
}

/**
 * Writes a file so that readers see the old content or the new, never half of it: a temporary file with the
 * final mode from the start (a key is never readable by others, not even briefly), fsync, rename, then fsync
 * of the directory, so the new content is on disk when this returns (a caller records it next).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const dir = dirname(path);
  const created = changedByMkdir(dir, mkdirSync(dir, { recursive: true, mode: dirModeFor(mode) }));
  const tmp = tmpName(path);
  const fd = openSync(tmp, 'wx', mode);
  try {
    const buf = typeof data === 'string' ? Buffer.from(data) : data;
    let off = 0;
    while (off < buf.length) off += writeSync(fd, buf, off, buf.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  for (const d of [...created, dir]) fsyncDir(d);
}

/** Files that go together into one directory, renamed into place in the order given. */
export interface FileGroup {
  dir: string;
  /** mode for the directory if it has to be created; an existing one is narrowed to it when it is 0700 */
  dirMode: number;
  files: { path: string; data: string | Uint8Array; mode: number }[];
}

/** Runs `fn` on every item with at most `limit` running at once; the first failure is thrown after all settle. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const run = async () => {
    while (next < items.length && !failure) {
      try {
        await fn(items[next++]!);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, run));
  if (failure) throw failure.e;
}

/**
 * How many fsyncs are in flight at once where they cannot be avoided. libuv runs them on its thread pool
 * (4 threads unless UV_THREADPOOL_SIZE says otherwise); overlapping fsyncs are committed by the file system's
 * journal together instead of one after the other.
 */
const IO_CONCURRENCY = 32;

/**
 * How a batch of files becomes durable: `filesystem` flushes each file system involved with one syncfs(2)
 * where that is possible (Linux, through coreutils' `sync --file-system`), else like `files`: an fsync per
 * file and per directory, in parallel. A batch of fewer than SYNCFS_MIN_FILES files is fsynced file by file
 * either way: that costs less than writing back whatever else is dirty on the file system.
 */
export type FlushMode = 'filesystem' | 'files';

const SYNCFS_MIN_FILES = 64;

/**
 * Runs `sync --file-system <path>` on request, from a shell started once: starting a process from this one
 * costs ~8 ms of this thread each time (its memory is large by then), a rotation needs ~35 of them, and the
 * shell starts each `sync` from a small process instead. Answers `0` (done) or `1` (failed) per line.
 */
class SyncHelper {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly waiting: ((ok: boolean) => void)[] = [];
  private alive = true;

  constructor(syncBinary: string) {
    // "$0" is the sync binary, given as an argument: no path is ever interpreted by the shell
    const loop = 'while IFS= read -r p; do "$0" --file-system -- "$p" >/dev/null 2>&1 && echo 0 || echo 1; done';
    this.child = spawn('/bin/sh', ['-c', loop, syncBinary], { stdio: ['pipe', 'pipe', 'ignore'] });
    const stop = () => {
      this.alive = false;
      for (const w of this.waiting.splice(0)) w(false);
    };
    this.child.on('error', stop).on('exit', stop);
    this.child.stdin.on('error', stop);
    createInterface({ input: this.child.stdout }).on('line', (l) => {
      this.waiting.shift()?.(l === '0');
      if (!this.waiting.length) this.idle();
    });
    this.idle();
  }

  /** an idle helper does not keep this process running; it ends when our end of its stdin closes */
  private idle(): void {
    this.child.unref();
    (this.child.stdout as Readable & { unref(): void }).unref();
    (this.child.stdin as Writable & { unref(): void }).unref();
  }

  sync(path: string): Promise<boolean> {
    if (!this.alive || path.includes('\n')) return Promise.resolve(false);
    this.child.ref();
    (this.child.stdout as Readable & { ref(): void }).ref();
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.stdin.write(path + '\n');
    });
  }
}

let helper: SyncHelper | null | undefined;

/**
 * syncfs(2) on the file system holding each path: every dirty file and directory entry on it reaches the disk.
 * Thousands of new small files then cost one writeback, in which the block layer merges their writes, where an
 * fsync each costs a data write and a journal commit each (ext4 in a 2-vCPU VM, 20,000 files: 1.3 s, against
 * 5 s for parallel fsyncs and 9 s for one after the other). False when it could not be done (not Linux, no
 * `sync` or `/bin/sh`, or it failed): the caller then fsyncs file by file, which also reports any I/O error.
 */
async function syncFileSystems(paths: string[]): Promise<boolean> {
  if (process.platform !== 'linux' || !paths.length) return false;
  if (helper === undefined) {
    // absolute paths: PATH does not decide what runs
    const bin = ['/usr/bin/sync', '/bin/sync'].find((p) => existsSync(p));
    helper = bin && existsSync('/bin/sh') ? new SyncHelper(bin) : null;
  }
  if (!helper) return false;
  for (const p of paths) if (!(await helper.sync(p))) return false;
  return true;
}

/** One directory per file system (st_dev) among the given ones, to hand to syncfs. */
function onePerFileSystem(dirs: Iterable<string>): string[] {
  const byDev = new Map<number, string>();
  for (const d of dirs) {
    const dev = statSync(d).dev;
    if (!byDev.has(dev)) byDev.set(dev, d);
  }
  return [...byDev.values()];
}

async function fsyncFile(path: string): Promise<void> {
  const h = await open(path, 'r+');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

/** Files of a group written under temporary names, not yet in place (none with `direct`). */
interface Staged {
  group: FileGroup;
  tmps: string[];
  /** every file written: the temporary names, or the final ones with `direct` */
  written: string[];
}

/** What a batch write changed: directories whose entries changed, and an existing directory per new entry. */
interface Touched {
  dirs: Set<string>;
  anchors: Set<string>;
  /** the mode each directory in `dirs` was settled to */
  modes: Map<string, number>;
}

/** Writes a group's files under temporary names (the final ones when `direct`), fsynced each when `fsync`, making its directory first. */
function stage(g: FileGroup, fsync: boolean, touched: Touched, staged: Staged[], direct: boolean): void {
  // many groups can share a directory (a staging area): it is made, and its mode settled, once per batch
  if (!touched.dirs.has(g.dir) || g.dirMode !== touched.modes.get(g.dir)) {
    const created = mkdirSync(g.dir, { recursive: true, mode: g.dirMode });
    for (const d of changedByMkdir(g.dir, created)) touched.dirs.add(d);
    touched.dirs.add(g.dir);
    touched.modes.set(g.dir, g.dirMode);
    if (created) {
      touched.anchors.add(dirname(created));
    } else {
      touched.anchors.add(g.dir);
      // a key going into a directory made earlier for a bundle without one
      if (!(g.dirMode & 0o077) && statSync(g.dir).mode & 0o077) chmodSync(g.dir, g.dirMode);
    }
  }
  const s: Staged = { group: g, tmps: [], written: [] };
  staged.push(s);
  for (const f of g.files) {
    const tmp = direct ? f.path : tmpName(f.path);
    const fd = openSync(tmp, 'wx', f.mode);
    if (!direct) s.tmps.push(tmp);
    s.written.push(tmp);
    try {
      writeFileSync(fd, f.data);
      if (fsync) fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}

/** Renames a group's files into place, in order (nothing to do for files written `direct`). */
function place(s: Staged): void {
  if (!s.tmps.length) return;
  s.group.files.forEach((f, i) => {
    renameSync(s.tmps[i]!, f.path);
    s.tmps[i] = '';
  });
}

/** Files per syncfs while writing (see writeFileGroupsDurably). */
const SYNCFS_BATCH_FILES = 1024;

/**
 * writeFileAtomic for many files at once, with the same guarantees when it resolves, and much faster. Each
 * file is written under a temporary name; once its content is durable it is renamed into place (a group's files
 * in the given order); once the renames are durable, this resolves. So a crash never leaves a final name on an
 * empty or partial file, nor loses a file this reported written.
 *
 * Durable means, with FlushMode `filesystem` and enough files: syncfs runs (in another process) on what is
 * written so far while the next batch of files is written, and a batch is renamed once a syncfs that started
 * after it was written has finished; a last syncfs covers the last renames. Otherwise, or when a syncfs fails:
 * an fsync per file and per directory, in parallel. Writing and renaming are synchronous: on libuv's pool they
 * were no faster and cost twice the CPU, which the signing threads running meanwhile need.
 *
 * A failure in a group names it (`onError`); temporary files are removed, and files of groups already renamed
 * stay (each one complete).
 *
 * With `direct`, files are written under their final names, which must be new (a staging directory that nothing
 * reads until it is complete and durable): the same durability for one rename less per file. On a failure the
 * caller removes what was written.
 */
export async function writeFileGroupsDurably(
  groups: FileGroup[],
  onError: (group: FileGroup, e: unknown) => Error,
  flush: FlushMode = 'filesystem',
  o: { direct?: boolean } = {},
): Promise<void> {
  const direct = !!o.direct;
  const touched: Touched = { dirs: new Set(), anchors: new Set(), modes: new Map() };
  const staged: Staged[] = [];
  const few = groups.reduce((n, g) => n + g.files.length, 0) < SYNCFS_MIN_FILES;
  const guarded = (g: FileGroup, f: () => void) => {
    try {
      f();
    } catch (e) {
      throw onError(g, e);
    }
  };
  /** staged[placed..] are written but not in place */
  let placed = 0;
  const placeUpTo = (end: number) => {
    for (; placed < end; placed++) guarded(staged[placed]!.group, () => place(staged[placed]!));
  };
  try {
    if (few) {
      for (const g of groups) guarded(g, () => stage(g, true, touched, staged, direct));
      placeUpTo(staged.length);
      for (const d of touched.dirs) fsyncDir(d);
      return;
    }
    let durable = flush === 'filesystem';
    if (durable) {
      const syncfs = () => syncFileSystems(onePerFileSystem(touched.anchors));
      /** the syncfs that started after staged[..covers] were written */
      let flushing: { done: Promise<boolean>; covers: number } | undefined;
      let files = 0;
      for (const [i, g] of groups.entries()) {
        guarded(g, () => stage(g, false, touched, staged, direct));
        files += g.files.length;
        if (files < SYNCFS_BATCH_FILES && i < groups.length - 1) continue;
        files = 0;
        const next = { done: syncfs(), covers: staged.length };
        if (flushing) {
          if (!(durable = await flushing.done)) break;
          placeUpTo(flushing.covers);
        }
        flushing = next;
      }
      if (durable && flushing && (durable = await flushing.done)) {
        placeUpTo(staged.length);
        durable = await syncfs();
      }
    }
    if (!durable) {
      // file by file: what is not in place yet, then every directory (also those of groups placed already)
      for (const g of groups.slice(staged.length)) guarded(g, () => stage(g, false, touched, staged, direct));
      await eachLimited(staged.slice(placed).flatMap((s) => s.written), IO_CONCURRENCY, fsyncFile);
      placeUpTo(staged.length);
      await eachLimited([...touched.dirs], IO_CONCURRENCY, fsyncDirAsync);
    }
  } finally {
    for (const s of staged) for (const t of s.tmps) if (t) rmSync(t, { force: true });
  }
}

/** Files moved (renamed, same file system) into one directory, after removing some. */
export interface MoveGroup {
  dir: string;
  /** mode for the directory if it has to be created; an existing one is narrowed to it when it is 0700 */
  dirMode: number;
  /** removed first; a missing one is fine */
  remove: string[];
  /** renamed in the order given */
  files: { from: string; to: string }[];
  /**
   * The directory every `from` is in, holding nothing else: renamed to `dir` at once when `dir` does not exist
   * (one rename for the whole group, and `remove` has nothing to remove); else the files are renamed one by one
   * and this directory, empty then, is removed.
   */
  whole?: string;
}

/** Renames `from` (a directory) to `to` unless something is there already: false then, and nothing changed. */
function renameWholeDir(from: string, to: string): boolean {
  // existsSync first: a re-issue finds the directory there, and a thrown error costs more than the check
  if (existsSync(to)) return false;
  try {
    renameSync(from, to);
    return true;
  } catch (e) {
    // a directory made meanwhile, or something that is no directory (the file-by-file path names the problem)
    if (['EEXIST', 'ENOTEMPTY', 'ENOTDIR'].includes((e as NodeJS.ErrnoException).code ?? '')) return false;
    throw e;
  }
}

/**
 * Moves groups of files into their directories and makes the result durable before resolving: the directories'
 * entries by one syncfs per file system for a large batch (as writeFileGroupsDurably), else an fsync per
 * directory. Idempotent for what it already moved only if the caller no longer lists it (a rename's source is gone).
 */
export async function moveFileGroupsDurably(groups: MoveGroup[], onError: (group: MoveGroup, e: unknown) => Error, flush: FlushMode = 'filesystem'): Promise<void> {
  const dirs = new Set<string>();
  const anchors = new Set<string>();
  /** parents made (or found) for whole-directory renames */
  const parents = new Set<string>();
  let files = 0;
  for (const g of groups) {
    try {
      if (g.whole) {
        const parent = dirname(g.dir);
        if (!parents.has(parent)) {
          // the parent of a bundle directory takes the mode a bundle directory would get (mkdir -p's)
          const made = mkdirSync(parent, { recursive: true, mode: 0o755 });
          for (const d of changedByMkdir(parent, made)) dirs.add(d);
          anchors.add(made ? dirname(made) : parent);
          parents.add(parent);
        }
        if (renameWholeDir(g.whole, g.dir)) {
          dirs.add(parent).add(dirname(g.whole));
          files += g.files.length;
          continue;
        }
      }
      const created = mkdirSync(g.dir, { recursive: true, mode: g.dirMode });
      for (const d of changedByMkdir(g.dir, created)) dirs.add(d);
      dirs.add(g.dir);
      if (created) anchors.add(dirname(created));
      else {
        anchors.add(g.dir);
        if (!(g.dirMode & 0o077) && statSync(g.dir).mode & 0o077) chmodSync(g.dir, g.dirMode);
      }
      // existsSync first: a missing file is the common case, and a thrown ENOENT costs more than the check
      for (const r of g.remove) if (existsSync(r)) rmSync(r, { force: true });
      for (const f of g.files) renameSync(f.from, f.to);
      if (g.whole) {
        rmdirSync(g.whole);
        dirs.add(dirname(g.whole));
      }
      files += g.files.length + g.remove.length;
    } catch (e) {
      throw onError(g, e);
    }
  }
  if (files >= SYNCFS_MIN_FILES && flush === 'filesystem' && (await syncFileSystems(onePerFileSystem(anchors)))) return;
  await eachLimited([...dirs], IO_CONCURRENCY, fsyncDirAsync);
}
