import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fstatSync, linkSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, rmdirSync, statSync, writeSync, type BigIntStats } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { StoreLock } from '../../ports.js';
import { conflict, storageError } from '../../domain/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the pid in a lock file names a running process other than this one. An empty or unreadable pid is
 * a lock nobody holds; our own pid is a lock left by an earlier process that had it (a container's pid 1).
 */
const ownerAlive = (pid: number) => Number.isInteger(pid) && pid > 0 && pid !== process.pid && alive(pid);

const errno = (e: unknown) => (e as NodeJS.ErrnoException)?.code;

/** Which file a name points at: a lock file is never written after it is in place, so this never changes. */
interface FileId {
  dev: bigint;
  ino: bigint;
  mtimeNs: bigint;
}
const idOf = (st: BigIntStats): FileId => ({ dev: st.dev, ino: st.ino, mtimeNs: st.mtimeNs });
const sameFile = (a: FileId, b: FileId) => a.dev === b.dev && a.ino === b.ino && a.mtimeNs === b.mtimeNs;
const idName = (id: FileId) => `${id.dev.toString(36)}-${id.ino.toString(36)}-${id.mtimeNs.toString(36)}`;

/** The lock file at `path` (which file, and the pid in it), or undefined when there is none. */
function readLock(path: string): { id: FileId; pid: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (errno(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    return { id: idOf(fstatSync(fd, { bigint: true })), pid: Number(readFileSync(fd, 'utf8').trim()) };
  } finally {
    closeSync(fd);
  }
}

/** Looks again after this long when another command is taking a stale lock over at the same moment. */
const RETRY_MS = 10;
const ATTEMPTS = 50;
/** Takeovers interrupted by a crash, one after another, before the stale lock is given up on. */
const TAKEOVER_LEVELS = 16;
const TMP_PREFIX = '.lock.tmp-';
const TAKEOVER_PREFIX = '.lock.takeover-';

/** Directories this process is locking or holds (two LockFile objects of one process would share its pid). */
const lockedHere = new Set<string>();

export interface LockFileOptions {
  /**
   * Runs as the outermost `withLock` ends, while the lock is still held (the local store folds the registry
   * journal into registry.json here). Housekeeping: a failure is ignored, the next command runs it again.
   */
  beforeRelease?: () => void;
}

/**
 * An exclusive lock file holding the owner's pid; a lock left by a dead process is taken over.
 *
 * `.lock` only ever appears complete: the pid is written to a file of our own, which is then hard-linked
 * into place (`link` fails when `.lock` exists, so of two commands only one can create it). Taking over a
 * stale lock needs a claim first: a hard link named after that stale file (device, inode, mtime), which
 * only one taker can create; the claimer checks that `.lock` is still that stale file and renames its own
 * file over it. A claimer killed in between leaves its claim behind with a dead pid: the next taker claims
 * the next level. So of many takers of one stale lock exactly one wins, and the others see it alive.
 */
export class LockFile implements StoreLock {
  private readonly path: string;
  private depth = 0;
  private createdDir = false;
  /** the lock file this process put in place, while it holds the lock */
  private held?: FileId;
  constructor(
    private readonly dir: string,
    private readonly o: LockFileOptions = {},
  ) {
    this.path = join(dir, '.lock');
  }

  private storage(e: unknown) {
    return storageError(`failed to take the lock in ${this.dir}: ${(e as Error)?.message ?? String(e)}`, 'free space on the disk or make the store directory writable, then re-run', e);
  }

  private refused(pid: number) {
    return conflict(`another ca command (pid ${pid}) is changing ${this.dir}`, `wait for it to finish: the lock frees when pid ${pid} exits`);
  }

  /** Writes our pid to a file of our own, complete before any other name points at it. */
  private writeOwnFile(tmp: string): FileId {
    const fd = openSync(tmp, 'wx', 0o600);
    let written = false;
    try {
      writeSync(fd, String(process.pid));
      const id = idOf(fstatSync(fd, { bigint: true }));
      written = true;
      return id;
    } finally {
      closeSync(fd);
      if (!written) rmSync(tmp, { force: true });
    }
  }

  private async acquire(): Promise<void> {
    if (lockedHere.has(this.path)) throw conflict(`another ca command in this process is changing ${this.dir}`, 'wait for it to finish');
    lockedHere.add(this.path);
    this.createdDir = !existsSync(this.dir);
    const tmp = join(this.dir, `${TMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      let mine: FileId;
      try {
        mkdirSync(this.dir, { recursive: true, mode: 0o700 });
        mine = this.writeOwnFile(tmp);
      } catch (e) {
        throw this.storage(e);
      }
      try {
        for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
          if (attempt > 0) await delay(RETRY_MS);
          try {
            linkSync(tmp, this.path);
            this.held = mine;
            return;
          } catch (e) {
            if (errno(e) !== 'EEXIST') throw this.storage(e);
          }
          const current = this.read(this.path);
          if (!current) continue; // released meanwhile
          if (ownerAlive(current.pid)) throw this.refused(current.pid);
          if (this.takeOver(tmp, current.id)) {
            this.held = mine;
            return;
          }
          // another command is taking it over, or just has: look again
        }
        throw conflict(`could not lock ${this.dir}: other ca commands kept taking it`, 're-run the command');
      } finally {
        try {
          rmSync(tmp, { force: true });
        } catch {
          /* a dead process's file to the next sweep */
        }
        if (this.held) this.sweep();
      }
    } catch (e) {
      lockedHere.delete(this.path);
      this.removeCreatedDir();
      throw e;
    }
  }

  private read(path: string) {
    try {
      return readLock(path);
    } catch (e) {
      throw this.storage(e);
    }
  }

  /** Replaces the stale lock file `stale` with ours (`tmp`); false when another command got there first. */
  private takeOver(tmp: string, stale: FileId): boolean {
    const claimOf = (level: number) => join(this.dir, `${TAKEOVER_PREFIX}${idName(stale)}.${level}`);
    for (let level = 1; level <= TAKEOVER_LEVELS; level++) {
      const claim = claimOf(level);
      try {
        linkSync(tmp, claim);
      } catch (e) {
        if (errno(e) !== 'EEXIST') throw this.storage(e);
        const other = this.read(claim);
        if (!other || ownerAlive(other.pid)) return false;
        continue; // that taker died halfway: claim the next level
      }
      // Ours: nobody else can replace that stale file now. Is it still the one at `.lock`?
      const now = this.read(this.path);
      if (!now || !sameFile(now.id, stale)) {
        rmSync(claim, { force: true });
        return false;
      }
      try {
        renameSync(tmp, this.path);
      } catch (e) {
        rmSync(claim, { force: true });
        throw this.storage(e);
      }
      for (let l = 1; l <= level; l++) rmSync(claimOf(l), { force: true });
      return true;
    }
    throw conflict(`could not take over the stale lock in ${this.dir}: ${TAKEOVER_LEVELS} takeovers were interrupted`, `if no ca command is running, remove ${join(this.dir, '.lock')}*`);
  }

  /**
   * Removes what crashed takers left: every claim (while we hold the lock no takeover can be under way)
   * and the own files of dead processes.
   */
  private sweep(): void {
    try {
      for (const name of readdirSync(this.dir)) {
        if (name.startsWith(TAKEOVER_PREFIX)) rmSync(join(this.dir, name), { force: true });
        else if (name.startsWith(TMP_PREFIX) && !ownerAlive(Number(name.slice(TMP_PREFIX.length).split('-')[0]))) rmSync(join(this.dir, name), { force: true });
      }
    } catch {
      /* housekeeping: the next takeover tries again */
    }
  }

  /** Whether `.lock` is still the file this process put in place. */
  private stillMine(): boolean {
    if (!this.held) return false;
    try {
      return sameFile(idOf(statSync(this.path, { bigint: true })), this.held);
    } catch (e) {
      if (errno(e) === 'ENOENT') return false;
      throw storageError(`failed to check the lock in ${this.dir}: ${(e as Error).message}`, undefined, e);
    }
  }

  async assertHeld(): Promise<void> {
    if (this.depth === 0) return;
    if (!this.stillMine()) throw conflict(`lost the lock on ${this.dir}: another run took it over, or its .lock file was removed`, 're-run the command');
  }

  private removeCreatedDir(): void {
    // a command that failed before writing anything leaves no empty store directory behind
    if (!this.createdDir) return;
    try {
      rmdirSync(this.dir);
    } catch {
      /* not empty: the command wrote state */
    }
  }

  private release(): void {
    try {
      // a lock another run took over is theirs: neither its housekeeping nor its file is ours to touch
      let mine = false;
      try {
        mine = this.stillMine();
      } catch {
        /* cannot tell: leave the file, a later command judges it by its pid */
      }
      if (mine) {
        try {
          this.o.beforeRelease?.();
        } catch {
          /* the work is done and durable; only the housekeeping is left for the next command */
        }
        rmSync(this.path, { force: true });
      }
    } finally {
      this.held = undefined;
      lockedHere.delete(this.path);
      this.removeCreatedDir();
    }
  }

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth === 0) await this.acquire();
    this.depth++;
    try {
      return await fn();
    } finally {
      if (--this.depth === 0) this.release();
    }
  }
}
