import { closeSync, constants as fsConstants, fstatSync, fdatasyncSync, ftruncateSync, openSync, readSync, rmSync, statSync, writeSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import type { AuditDraft, AuditEvent, CertificateRecord, CertificateRegistry, CommitOptions, RegistryChange, RegistryQuery } from '../../ports.js';
import { sealEvent } from '../../domain/audit.js';
import { storageError } from '../../domain/errors.js';
import { assertCommit, planRegistryCommit } from '../../domain/registry-rules.js';
import { fsyncDir, writeFileAtomic } from './files.js';
import { CA_VERSION } from '../../version.js';


/** The registry file's format version; a store whose file says otherwise is refused, not guessed at. */
export const REGISTRY_FORMAT = 1;

class UnknownFormat extends Error {
  constructor(
    readonly format: unknown,
    readonly writtenBy: unknown,
  ) {
    super('unknown registry format');
  }
}

/** registry.json: every record as of one generation. Versions before the journal wrote no `generation` (0). */
interface RegistryFile {
  format: 1;
  /** the version of ca that wrote the file, named when another version cannot read it */
  writtenBy?: string;
  generation?: number;
  records: CertificateRecord[];
  /** the last audit event (audit.jsonl) as of this snapshot: a trail that ends before it lost its tail */
  auditHead?: { seq: number; hash: string };
}

/** First line of registry.journal: the generation of the snapshot it continues. */
interface JournalHeader {
  journal: 1;
  generation: number;
}

/** Every other line: one commit, as the records it created or changed, in their new state. */
interface JournalEntry {
  seq: number;
  records: CertificateRecord[];
  /** the audit event of this commit: it exists exactly when the commit does (moved to audit.jsonl at compaction) */
  audit?: AuditEvent;
}

/** What this process has read of the journal. */
interface JournalView {
  ino: number;
  /** size and mtime when last read: unchanged means nothing new */
  size: number;
  mtimeMs: number;
  /** offset just past the last complete line; anything after it is a commit that never completed */
  end: number;
  seq: number;
}

export interface JsonFileRegistryOptions {
  /** fold the journal into registry.json during a commit once it is this many bytes and twice the snapshot */
  compactAtBytes?: number;
}

/** Journal bytes and the journal's identity when they were read. */
interface JournalRead {
  at: Omit<JournalView, 'seq'>;
  lines: Buffer;
  damage?: string;
}

const MAX_RELOADS = 20;

/** Reads a whole file from `from` through one descriptor. */
function readFrom(fd: number, from: number): Buffer {
  const chunks: Buffer[] = [];
  let pos = from;
  for (;;) {
    const buf = Buffer.allocUnsafe(Math.max(1 << 16, fstatSync(fd).size - pos));
    const n = readSync(fd, buf, 0, buf.length, pos);
    if (n === 0) break;
    chunks.push(buf.subarray(0, n));
    pos += n;
  }
  return Buffer.concat(chunks);
}

function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/**
 * The registry as `registry.json` (a snapshot, replaced atomically) plus `registry.journal`: one line per
 * commit, appended with a single write and fdatasync. A commit is the line: all of it or, when a crash cut it
 * short (no final newline, or not JSON), none of it; the next commit cuts such a tail off before appending.
 * Loading reads the snapshot and replays the journal on top. `compact` (at store lock release, and during
 * commits once the journal grows large) writes a new snapshot of the next generation, after which the old
 * journal no longer applies and is removed. So at rest, after a command, registry.json alone holds everything.
 *
 * Other processes (`ca gateway` while a command runs) notice a new snapshot by its identity and new commits by
 * the journal's size, and read only the lines they have not seen.
 */
export class JsonFileRegistry implements CertificateRegistry {
  private records?: Map<string, CertificateRecord>;
  /** identity of the snapshot the records come from */
  private snapshotStamp = '';
  private snapshotSize = 0;
  private generation = 0;
  private journal?: JournalView;
  /** audit events of the journal's commits, not yet in audit.jsonl for sure */
  private pendingAudit: AuditEvent[] = [];
  private snapshotAuditHead?: { seq: number; hash: string };
  readonly path: string;
  readonly journalPath: string;
  readonly auditPath: string;
  private readonly compactAtBytes: number;

  constructor(
    private readonly dir: string,
    o: JsonFileRegistryOptions = {},
  ) {
    this.path = join(dir, 'registry.json');
    this.journalPath = join(dir, 'registry.journal');
    this.auditPath = join(dir, 'audit.jsonl');
    this.compactAtBytes = o.compactAtBytes ?? 64 << 20;
  }

  private static stampOf(st: Stats | undefined): string {
    return st ? `${st.ino}:${st.mtimeMs}:${st.size}` : 'absent';
  }

  private load(): Map<string, CertificateRecord> {
    for (let attempt = 0; attempt < MAX_RELOADS; attempt++) {
      if (this.records && JsonFileRegistry.stampOf(statOrUndefined(this.path)) === this.snapshotStamp) {
        const j = statOrUndefined(this.journalPath);
        const seen = this.journal;
        if (!j && !seen) return this.records;
        if (j && seen && j.ino === seen.ino && j.size === seen.size && j.mtimeMs === seen.mtimeMs) return this.records;
        // new lines on the journal we know: read only those
        if (j && seen && j.ino === seen.ino && j.size >= seen.end) {
          const read = this.readJournal(seen.end);
          if (read && this.snapshotUnchanged()) {
            this.applyLines(this.records, this.pendingAudit, { ...seen, ...read.at }, read.lines);
            return this.records;
          }
        }
      }
      if (this.reload()) return this.records!;
    }
    throw storageError(`failed to read registry ${this.path}: it kept changing while being read`, 'retry the command');
  }

  /**
   * Reads the snapshot, then the journal that continues it. False when the snapshot was replaced meanwhile
   * (a compaction in another process): the journal read may belong to the new one, so start over.
   */
  private reload(): boolean {
    const records = new Map<string, CertificateRecord>();
    let generation = 0;
    let auditHead: { seq: number; hash: string } | undefined;
    const pending: AuditEvent[] = [];
    let stamp = 'absent';
    let size = 0;
    let fd: number | undefined;
    try {
      fd = openSync(this.path, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw storageError(`failed to read registry ${this.path}: ${(e as Error).message}`, undefined, e);
    }
    if (fd !== undefined) {
      try {
        const st = fstatSync(fd);
        stamp = JsonFileRegistry.stampOf(st);
        const buf = readFrom(fd, 0);
        size = buf.length;
        const doc = JSON.parse(buf.toString('utf8')) as RegistryFile;
        // a newer ca's registry read by an older one would lose what it does not know: refuse it whole
        if (doc.format !== REGISTRY_FORMAT) throw new UnknownFormat(doc.format, doc.writtenBy);
        generation = doc.generation ?? 0;
        auditHead = doc.auditHead;
        for (const r of doc.records) records.set(r.serial, r);
      } catch (e) {
        if (e instanceof UnknownFormat) {
          throw storageError(
            `registry ${this.path} has format ${JSON.stringify(e.format)}${typeof e.writtenBy === 'string' ? ` (written by ca ${e.writtenBy})` : ''}, which ca ${CA_VERSION} cannot read: it reads format ${REGISTRY_FORMAT}`,
            typeof e.format === 'number' && e.format > REGISTRY_FORMAT ? 'it was written by a newer ca: upgrade ca to use this store' : 'the file is not a ca registry: restore it from backup',
          );
        }
        throw storageError(`failed to read registry ${this.path}: ${(e as Error).message}`, 'restore it from backup', e);
      } finally {
        closeSync(fd);
      }
    }
    const journal = this.openJournal(generation);
    // A compaction in another process replaced the snapshot meanwhile: the journal read may be the new one.
    if (JsonFileRegistry.stampOf(statOrUndefined(this.path)) !== stamp) return false;
    if (journal?.damage) throw storageError(`failed to read registry journal ${this.journalPath}: ${journal.damage}`, 'restore the store from backup');
    this.journal = undefined;
    if (journal) this.applyLines(records, pending, { ...journal.at, seq: 0 }, journal.lines);
    this.records = records;
    this.pendingAudit = pending;
    this.snapshotAuditHead = auditHead;
    this.snapshotStamp = stamp;
    this.snapshotSize = size;
    this.generation = generation;
    return true;
  }

  private snapshotUnchanged(): boolean {
    return JsonFileRegistry.stampOf(statOrUndefined(this.path)) === this.snapshotStamp;
  }

  /**
   * The journal that continues the snapshot of `generation`, read whole but not yet applied (see applyLines);
   * undefined when there is none, or only one a compaction left behind.
   */
  private openJournal(generation: number): JournalRead | undefined {
    const read = this.readJournal(0);
    if (!read) return undefined;
    const nl = read.lines.indexOf(0x0a);
    // no complete header: a journal whose creation never completed, with nothing to replay
    if (nl < 0) return undefined;
    let header: JournalHeader;
    try {
      header = JSON.parse(read.lines.subarray(0, nl).toString('utf8'));
    } catch (e) {
      // damage, unless the snapshot changed meanwhile and this is another generation's journal mid-write
      return { ...read, damage: `bad header: ${(e as Error).message}` };
    }
    // a journal left by a compaction that was cut short: the snapshot already holds it
    if (header.journal !== 1 || header.generation !== generation) return undefined;
    return { at: { ...read.at, end: nl + 1 }, lines: read.lines.subarray(nl + 1) };
  }

  /** The journal's bytes from `from` on, and its identity; undefined when there is no journal. */
  private readJournal(from: number): JournalRead | undefined {
    let fd: number;
    try {
      fd = openSync(this.journalPath, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(`failed to read registry journal ${this.journalPath}: ${(e as Error).message}`, undefined, e);
    }
    try {
      const st = fstatSync(fd);
      const lines = readFrom(fd, from);
      return { at: { ino: st.ino, mtimeMs: st.mtimeMs, size: Math.max(from + lines.length, st.size), end: from }, lines };
    } finally {
      closeSync(fd);
    }
  }

  /**
   * Applies the complete lines of `lines` (journal bytes from `view.end`) and moves `view` past them; an
   * incomplete last line is a commit that never completed and is left alone.
   */
  private applyLines(records: Map<string, CertificateRecord>, pendingAudit: AuditEvent[], view: JournalView, lines: Buffer): void {
    let pos = 0;
    const entries: JournalEntry[] = [];
    for (;;) {
      const nl = lines.indexOf(0x0a, pos);
      if (nl < 0) break;
      try {
        entries.push(JSON.parse(lines.subarray(pos, nl).toString('utf8')));
      } catch (e) {
        // each line ends with its only newline, so a commit cut short can only be the tail: this is damage
        throw storageError(`failed to read registry journal ${this.journalPath} at byte ${view.end + pos}: ${(e as Error).message}`, 'restore the store from backup', e);
      }
      pos = nl + 1;
    }
    for (const entry of entries) {
      for (const r of entry.records) records.set(r.serial, r);
      if (entry.audit) pendingAudit.push(entry.audit);
    }
    if (entries.length) view.seq = entries[entries.length - 1]!.seq;
    view.end += pos;
    this.journal = view;
  }

  async get(serial: string): Promise<CertificateRecord | undefined> {
    const r = this.load().get(serial);
    return r && structuredClone(r);
  }

  async list(q: RegistryQuery = {}): Promise<CertificateRecord[]> {
    const out: CertificateRecord[] = [];
    for (const r of this.load().values()) {
      if ((q.kind && r.kind !== q.kind) || (q.clientId && r.clientId !== q.clientId) || (q.status && r.status !== q.status)) continue;
      out.push({ ...r });
    }
    return out;
  }

  /** One journal line per commit: nothing bounds an atomic commit here. */
  readonly limits = { maxAtomicChanges: Number.POSITIVE_INFINITY };

  /**
   * Every commit is one journal line, so each is all-or-nothing, which satisfies the atomic and batched contract
   * alike. The domain's rules decide, on the current records, under the store lock the caller holds.
   */
  async commit(changes: RegistryChange[], opts: CommitOptions = {}): Promise<void> {
    const current = this.load();
    const groups = planRegistryCommit(changes);
    let active: Map<string, string[]> | undefined;
    const verdicts = assertCommit(groups, {
      record: (serial) => current.get(serial),
      activeSerials: (clientId) => {
        // one pass over the records, the first time a group asks
        if (!active) {
          active = new Map();
          for (const r of current.values()) if (r.kind === 'client' && r.status === 'active') active.set(r.clientId, [...(active.get(r.clientId) ?? []), r.serial]);
        }
        return active.get(clientId) ?? [];
      },
    });
    const next = new Map<string, CertificateRecord>();
    for (const [i, g] of groups.entries()) {
      if (verdicts[i]!.kind === 'applied') continue;
      for (const n of g.changes) next.set(n.serial, { ...n.record });
    }
    if (!next.size) return;
    const audit = opts.audit && sealEvent(opts.audit, this.auditHeadNow());
    // with an audit event the first commit goes through the journal too: the event and the records in one line
    if (this.snapshotStamp === 'absent' && !this.journal && !audit) {
      // a new store: its first commit is small, and registry.json then exists from the start
      const all = new Map([...current, ...next]);
      this.writeSnapshot(all);
      this.records = all;
      return;
    }
    this.appendEntry([...next.values()], audit);
    for (const [serial, r] of next) current.set(serial, r);
    if (this.journal!.end >= this.compactAtBytes && this.journal!.end >= 2 * this.snapshotSize) this.compact();
  }

  /** One journal line of records and their audit event. */
  private appendEntry(records: CertificateRecord[], audit: AuditEvent | undefined): void {
    const seq = (this.journal?.seq ?? 0) + 1;
    const line = JSON.stringify({ seq, records, ...(audit ? { audit } : {}) } satisfies JournalEntry) + '\n';
    try {
      this.append(line, seq);
    } catch (e) {
      throw storageError(`failed to write registry ${this.journalPath}: ${(e as Error).message}`, undefined, e);
    }
    if (audit) this.pendingAudit.push(audit);
  }

  /** The last audit event's seq and hash: the journal's last, else the snapshot's record of audit.jsonl's last. */
  private auditHeadNow(): { seq: number; hash: string } | undefined {
    const last = this.pendingAudit.at(-1);
    return last ? { seq: last.seq, hash: last.hash } : this.snapshotAuditHead;
  }

  /** The audit trail: audit.jsonl, then the events of journal lines not yet moved there. */
  async auditEvents(): Promise<AuditEvent[]> {
    this.load();
    const stored = this.readAuditFile().events;
    const last = stored.at(-1)?.seq ?? 0;
    return [...stored, ...this.pendingAudit.filter((e) => e.seq > last).map((e) => structuredClone(e))];
  }

  async auditHead(): Promise<{ seq: number; hash: string } | undefined> {
    this.load();
    return this.auditHeadNow();
  }

  /** An event with no record change: a journal line of its own, so it is as durable and ordered as a commit. */
  async appendAudit(draft: AuditDraft): Promise<AuditEvent> {
    this.load();
    const event = sealEvent(draft, this.auditHeadNow());
    this.appendEntry([], event);
    return structuredClone(event);
  }

  /**
   * audit.jsonl's events, one JSON object a line. A last line without its newline is an append a crash cut
   * short (the journal still holds it): left out here, cut off by the next flush. A line that is not JSON is
   * kept as a broken event for `ca audit verify` to name.
   */
  private readAuditFile(): { events: AuditEvent[]; completeBytes: number; size: number } {
    let buf: Buffer;
    try {
      const fd = openSync(this.auditPath, 'r');
      try {
        buf = readFrom(fd, 0);
      } finally {
        closeSync(fd);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { events: [], completeBytes: 0, size: 0 };
      throw storageError(`failed to read the audit trail ${this.auditPath}: ${(e as Error).message}`, undefined, e);
    }
    const completeBytes = buf.lastIndexOf(0x0a) + 1;
    const events = buf
      .subarray(0, completeBytes)
      .toString('utf8')
      .split('\n')
      .filter((l) => l.length)
      .map((l) => {
        try {
          return JSON.parse(l) as AuditEvent;
        } catch {
          return { unreadable: l } as unknown as AuditEvent;
        }
      });
    return { events, completeBytes, size: buf.length };
  }

  /**
   * Moves the journal's audit events to audit.jsonl (append-only, 0600, on disk before it returns): those after
   * the file's last seq, so a flush a crash interrupted is completed, never doubled. Run before the snapshot that
   * makes the journal obsolete.
   */
  private flushAudit(): void {
    if (!this.pendingAudit.length) return;
    const { events, completeBytes, size } = this.readAuditFile();
    const last = events.at(-1)?.seq ?? 0;
    const missing = this.pendingAudit.filter((e) => e.seq > last);
    if (!missing.length && completeBytes === size) return;
    const created = size === 0 && !statOrUndefined(this.auditPath);
    try {
      const fd = openSync(this.auditPath, fsConstants.O_WRONLY | fsConstants.O_CREAT, 0o600);
      try {
        // a flush a crash cut short: its torn line goes, the events are written again whole
        if (completeBytes !== size) ftruncateSync(fd, completeBytes);
        const data = Buffer.from(missing.map((e) => JSON.stringify(e) + '\n').join(''));
        let off = 0;
        while (off < data.length) off += writeSync(fd, data, off, data.length - off, completeBytes + off);
        fdatasyncSync(fd);
      } finally {
        closeSync(fd);
      }
      if (created) fsyncDir(this.dir);
    } catch (e) {
      throw storageError(`failed to write the audit trail ${this.auditPath}: ${(e as Error).message}`, undefined, e);
    }
  }

  /** Appends one commit line and waits for the disk; starts the journal of this generation if there is none. */
  private append(line: string, seq: number): void {
    const data = Buffer.from(line);
    if (!this.journal) {
      // A new journal appears complete, with its header and first commit, or not at all (and replaces a stale
      // one left by an interrupted compaction).
      const header = JSON.stringify({ journal: 1, generation: this.generation } satisfies JournalHeader) + '\n';
      writeFileAtomic(this.journalPath, Buffer.concat([Buffer.from(header), data]), 0o600);
      const st = statSync(this.journalPath);
      this.journal = { ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, end: st.size, seq };
      return;
    }
    const view = this.journal;
    const fd = openSync(this.journalPath, 'r+');
    try {
      const st = fstatSync(fd);
      if (st.ino !== view.ino) throw new Error('the journal was replaced by another process');
      // a commit a crash cut short: it never happened, and our line must not be glued to it
      if (st.size !== view.end) ftruncateSync(fd, view.end);
      let off = 0;
      while (off < data.length) off += writeSync(fd, data, off, data.length - off, view.end + off);
      fdatasyncSync(fd);
      const after = fstatSync(fd);
      view.end += data.length;
      view.size = after.size;
      view.mtimeMs = after.mtimeMs;
      view.seq = seq;
    } finally {
      // on a failure, what was written is not a commit: view.end did not move, the next append cuts it off
      closeSync(fd);
    }
  }

  /**
   * Folds the journal into a new registry.json (the next generation), then removes the journal. Run with the
   * store lock held. A crash after the snapshot is in place leaves a journal of the previous generation,
   * which loading ignores and the next commit replaces.
   */
  compact(): void {
    if (!this.records && !statOrUndefined(this.journalPath)) return;
    const records = this.load();
    if (!this.journal) {
      // one that does not continue registry.json (see above) holds nothing to keep
      rmSync(this.journalPath, { force: true });
      return;
    }
    this.writeSnapshot(records);
  }

  /** registry.json of the next generation, holding `records`; then the journal it replaces goes. */
  private writeSnapshot(records: Map<string, CertificateRecord>): void {
    const generation = this.generation + 1;
    // the journal's audit events are in audit.jsonl before the snapshot makes the journal obsolete
    this.flushAudit();
    const auditHead = this.auditHeadNow();
    const text = JSON.stringify({ format: REGISTRY_FORMAT, writtenBy: CA_VERSION, generation, records: [...records.values()], ...(auditHead ? { auditHead } : {}) } satisfies RegistryFile);
    try {
      // on disk (file and directory) before the journal goes: from here on it is the only copy
      writeFileAtomic(this.path, text, 0o600);
      rmSync(this.journalPath, { force: true });
    } catch (e) {
      throw storageError(`failed to write registry ${this.path}: ${(e as Error).message}`, undefined, e);
    }
    this.generation = generation;
    this.snapshotStamp = JsonFileRegistry.stampOf(statSync(this.path));
    this.snapshotSize = Buffer.byteLength(text);
    this.journal = undefined;
    this.snapshotAuditHead = auditHead;
    this.pendingAudit = [];
  }
}
