import { closeSync, fdatasyncSync, fstatSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import type { ArchivedRecord, CertificateRecord, RegistryArchive } from '../../ports.js';
import { storageError } from '../../domain/errors.js';
import { canonicalJson, type JsonFileRegistry } from './json-registry.js';
import { fsyncDir } from './files.js';

/**
 * `registry-archive.jsonl` beside the registry: one line per record cleaned out of registry.json, appended and
 * never rewritten (nothing reads it on the way to a decision: `ca gateway` and the authorizer read the registry).
 * A line is written with one write and fdatasync; a line a crash cut short (no final newline) is no record, and
 * the next append cuts it off first.
 */
export class LocalRegistryArchive implements RegistryArchive {
  readonly location: string;

  constructor(
    private readonly dir: string,
    private readonly registry: JsonFileRegistry,
  ) {
    this.location = join(dir, 'registry-archive.jsonl');
  }

  /** The file's complete lines and where they end (anything after is a line a crash cut short). */
  private read(): { entries: ArchivedRecord[]; end: number } {
    let buf: Buffer;
    try {
      buf = readFileSync(this.location);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], end: 0 };
      throw storageError(`failed to read the registry archive ${this.location}: ${(e as Error).message}`, undefined, e);
    }
    const entries: ArchivedRecord[] = [];
    let pos = 0;
    for (;;) {
      const nl = buf.indexOf(0x0a, pos);
      if (nl < 0) break;
      try {
        entries.push(JSON.parse(buf.subarray(pos, nl).toString('utf8')) as ArchivedRecord);
      } catch (e) {
        throw storageError(`failed to read the registry archive ${this.location} at byte ${pos}: ${(e as Error).message}`, 'restore it from backup', e);
      }
      pos = nl + 1;
    }
    return { entries, end: pos };
  }

  async list(): Promise<ArchivedRecord[]> {
    return this.read().entries;
  }

  async archive(records: CertificateRecord[], at: Date): Promise<void> {
    if (!records.length) return;
    const { entries, end } = this.read();
    // the last archived state of each serial: a record a crashed run archived but did not remove is not appended again
    const last = new Map(entries.map((e) => [e.record.serial, canonicalJson(e.record)]));
    const lines = records
      .filter((r) => last.get(r.serial) !== canonicalJson(r))
      .map((r) => JSON.stringify({ record: r, archivedAt: at.toISOString() } satisfies ArchivedRecord) + '\n')
      .join('');
    if (lines) this.append(Buffer.from(lines), end);
    // only once the archive holds them durably do they leave the registry
    this.registry.remove(records);
  }

  private append(data: Buffer, end: number): void {
    let fd: number;
    let created = false;
    try {
      try {
        fd = openSync(this.location, 'r+');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        fd = openSync(this.location, 'wx', 0o600);
        created = true;
      }
      try {
        if (fstatSync(fd).size !== end) ftruncateSync(fd, end);
        let off = 0;
        while (off < data.length) off += writeSync(fd, data, off, data.length - off, end + off);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (created) fsyncDir(this.dir);
    } catch (e) {
      throw storageError(`failed to write the registry archive ${this.location}: ${(e as Error).message}`, 'run the command again once the store is writable', e);
    }
  }
}
