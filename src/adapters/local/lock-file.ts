import { closeSync, existsSync, openSync, readFileSync, rmSync, rmdirSync, writeSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { StoreLock } from '../../ports.js';
import { conflict } from '../../domain/errors.js';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export interface LockFileOptions {
  /**
   * Runs as the outermost `withLock` ends, while the lock is still held (the local store folds the registry
   * journal into registry.json here). Housekeeping: a failure is ignored, the next command runs it again.
   */
  beforeRelease?: () => void;
}

/** An exclusive lock file holding the owner's pid; a lock left by a dead process is taken over. */
export class LockFile implements StoreLock {
  private readonly path: string;
  private depth = 0;
  private createdDir = false;
  constructor(
    private readonly dir: string,
    private readonly o: LockFileOptions = {},
  ) {
    this.path = join(dir, '.lock');
  }

  private acquire(): void {
    this.createdDir = !existsSync(this.dir);
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(this.path, 'wx', 0o600);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        const pid = Number(readFileSync(this.path, 'utf8').trim());
        if (pid && alive(pid) && pid !== process.pid) throw conflict(`another ca command (pid ${pid}) is changing ${this.dir}`, 'wait for it to finish');
        rmSync(this.path, { force: true });
      }
    }
    throw conflict(`could not lock ${this.dir}`);
  }

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth++ === 0) this.acquire();
    try {
      return await fn();
    } finally {
      if (--this.depth === 0) {
        try {
          this.o.beforeRelease?.();
        } catch {
          /* the work is done and durable; only the housekeeping is left for the next command */
        }
        rmSync(this.path, { force: true });
        // a command that failed before writing anything leaves no empty store directory behind
        if (this.createdDir) {
          try {
            rmdirSync(this.dir);
          } catch {
            /* not empty: the command wrote state */
          }
        }
      }
    }
  }
}
