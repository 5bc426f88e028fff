import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { CertificateRecord, CertificateRegistry, RegistryChange, RegistryQuery } from '../../ports.js';
import { conflict, storageError } from '../../domain/errors.js';
import { writeFileAtomic } from './files.js';

interface RegistryFile {
  format: 1;
  records: CertificateRecord[];
}

/**
 * The registry as one JSON file, replaced atomically on every commit: each commit is all-or-nothing, which
 * satisfies both the atomic and the batched contract. Loaded once per process (commands hold the store lock).
 */
export class JsonFileRegistry implements CertificateRegistry {
  private records?: Map<string, CertificateRecord>;
  /** the file's identity when loaded: another process (a revoke while `ca gateway` runs) replaces the file */
  private loadedStamp = '';
  readonly path: string;

  constructor(dir: string) {
    this.path = join(dir, 'registry.json');
  }

  private stamp(): string {
    try {
      const st = statSync(this.path);
      return `${st.ino}:${st.mtimeMs}:${st.size}`;
    } catch {
      return 'absent';
    }
  }

  private load(): Map<string, CertificateRecord> {
    const stamp = this.stamp();
    if (this.records && stamp === this.loadedStamp) return this.records;
    this.loadedStamp = stamp;
    const m = new Map<string, CertificateRecord>();
    if (existsSync(this.path)) {
      let doc: RegistryFile;
      try {
        doc = JSON.parse(readFileSync(this.path, 'utf8'));
      } catch (e) {
        throw storageError(`failed to read registry ${this.path}: ${(e as Error).message}`, 'restore it from backup', e);
      }
      for (const r of doc.records) m.set(r.serial, r);
    }
    this.records = m;
    return m;
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

  async commit(changes: RegistryChange[]): Promise<void> {
    const current = this.load();
    const next = new Map(current);
    const touched = new Set<string>();
    for (const c of changes) {
      const existing = next.get(c.record.serial);
      if (c.op === 'create' && existing) throw conflict(`serial ${c.record.serial} is already in the registry`);
      if (c.op === 'update') {
        if (!existing) throw conflict(`serial ${c.record.serial} is not in the registry`);
        if (existing.status !== c.expect) throw conflict(`certificate ${c.record.serial} is ${existing.status}, expected ${c.expect}: another command changed it`, 're-run the command');
      }
      next.set(c.record.serial, { ...c.record });
      if (c.record.kind === 'client') touched.add(c.record.clientId);
    }
    if (touched.size) {
      const active = new Map<string, number>();
      for (const r of next.values()) if (r.kind === 'client' && r.status === 'active' && touched.has(r.clientId)) active.set(r.clientId, (active.get(r.clientId) ?? 0) + 1);
      for (const [id, n] of active) if (n > 1) throw conflict(`client ${id} would have ${n} active certificates`);
    }
    const doc: RegistryFile = { format: 1, records: [...next.values()] };
    try {
      writeFileAtomic(this.path, JSON.stringify(doc), 0o600);
    } catch (e) {
      throw storageError(`failed to write registry ${this.path}: ${(e as Error).message}`, undefined, e);
    }
    this.records = next;
    this.loadedStamp = this.stamp();
  }
}
