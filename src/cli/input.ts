import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { invalidInput, usageError } from '../domain/errors.js';

/**
 * Reads a file the user named, at most `maxBytes` of it, from the stream itself: a size from stat cannot be
 * trusted (`/dev/zero` and pipes say 0 and never end), and a directory or a device is not an input.
 * @throws CaError invalidInput for a missing file, a directory, an unreadable file or one too large
 */
export function readInputFile(path: string, what: string, maxBytes: number): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw invalidInput(`${what} ${path} not found`);
    throw invalidInput(`failed to open ${what} ${path}: ${osCause(e)}`);
  }
  try {
    if (fstatSync(fd).isDirectory()) throw invalidInput(`${what} ${path} is a directory`, `give the path of a file`);
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(64 * 1024, maxBytes + 1 - total));
      let n: number;
      try {
        n = readSync(fd, buf, 0, buf.length, null);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EISDIR') throw invalidInput(`${what} ${path} is a directory`, 'give the path of a file');
        if ((e as NodeJS.ErrnoException).code === 'EAGAIN') continue;
        throw invalidInput(`failed to read ${what} ${path}: ${osCause(e)}`);
      }
      if (n === 0) break;
      chunks.push(buf.subarray(0, n));
      total += n;
      if (total > maxBytes) throw invalidInput(`${what} ${path} is too large (more than ${maxBytes} bytes)`);
    }
    return Buffer.concat(chunks).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The cause of an operating-system error in words: `read-only file system (EROFS)`. */
export function osCause(e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const words = err.message?.replace(/^[A-Z]+: /, '').split(',')[0]?.trim();
  return err.code ? `${words || 'failed'} (${err.code})` : String(err.message ?? e);
}

/**
 * A flag's value as a whole decimal number within [min, max]: `0x10`, `1e2`, `-1`, `12abc` and the empty
 * string are refused, not read as JavaScript would.
 * @throws CaError usage naming the flag
 */
export function wholeNumberFlag(flag: string, value: unknown, min: number, max: number): number {
  const text = String(value).trim();
  const n = /^\d{1,9}$/.test(text) ? Number(text) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw usageError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(String(value))}`);
  return n;
}
