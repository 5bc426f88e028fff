import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';

/**
 * Writes a file so that readers see the old content or the new, never half of it: a temporary file with the
 * final mode from the start (a key is never readable by others, not even briefly), fsync, then rename.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  // a directory that receives a private key is private too
  mkdirSync(dirname(path), { recursive: true, mode: mode & 0o077 ? 0o755 : 0o700 });
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
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
}
