import type { CertificateRecord } from '../ports.js';
import { loadCaState } from './ca-state.js';
import type { OperationContext } from './context.js';
import { notFound } from './errors.js';
import { pastRetention } from './retention.js';

export interface CompactOptions {
  /** days a finished certificate's record is kept (see retentionEnd) */
  retentionDays: number;
  dryRun?: boolean;
}

export interface CompactResult {
  dryRun: boolean;
  retentionDays: number;
  /** `archive`: moved into the store's archive now; `ttl`: the backend removes them itself (DynamoDB TTL) */
  method: 'archive' | 'ttl';
  /** the records past their retention period: moved now (archive), would be (dry run), or awaiting the backend (ttl) */
  records: CertificateRecord[];
  /** where the archive is, when the store has one */
  archive?: string;
}

/**
 * The records whose retention period is over, out of the registry the authorizer reads: into the store's
 * archive (the local store), or, on a store whose backend expires them itself (DynamoDB TTL), nothing to do but
 * say which are due. Never an active record, a CA record or a superseded one in grace (see retentionEnd).
 * Idempotent: a second run finds nothing. Run under the store lock.
 * @throws CaError notFound without a CA
 */
export async function compact(ctx: OperationContext, o: CompactOptions): Promise<CompactResult> {
  const state = await loadCaState(ctx.store.registry);
  if (!state.root) throw notFound('no CA in this store yet', 'run `ca bootstrap` first (or pick the store with --env/--dir)');
  const now = ctx.clock.now();
  const due = (await ctx.store.registry.list({ kind: 'client' }))
    .filter((r) => pastRetention(r, now, o.retentionDays))
    .sort((a, b) => a.clientId.localeCompare(b.clientId) || a.notAfter.localeCompare(b.notAfter));
  const archive = ctx.store.archive;
  const result: CompactResult = { dryRun: !!o.dryRun, retentionDays: o.retentionDays, method: archive ? 'archive' : 'ttl', records: due, archive: archive?.location };
  if (archive && due.length && !o.dryRun) await archive.archive(due, now);
  return result;
}

/** What `ca list --all` says about clean-up. */
export interface CleanupReport {
  method: 'archive' | 'ttl';
  retentionDays: number;
  /** records moved out of the registry into the archive (archive), each counted once; null where the backend removes them unrecorded (ttl) */
  archived: number | null;
  /** records past their retention period still in the registry: for `ca compact` (archive), or for the backend's lazy removal (ttl) */
  awaitingCleanup: number;
  archive?: string;
}

/**
 * Clean-up at a glance, and the records the archive holds (the last state of each, none still in the registry:
 * a crash between archiving and removing leaves the registry's copy the one to show).
 */
export async function cleanupReport(ctx: OperationContext, retentionDays: number, clients: CertificateRecord[]): Promise<{ report: CleanupReport; archived: { record: CertificateRecord; archivedAt: string }[] }> {
  const now = ctx.clock.now();
  const awaitingCleanup = clients.filter((r) => pastRetention(r, now, retentionDays)).length;
  const archive = ctx.store.archive;
  if (!archive) return { report: { method: 'ttl', retentionDays, archived: null, awaitingCleanup }, archived: [] };
  const present = new Set(clients.map((c) => c.serial));
  const last = new Map<string, { record: CertificateRecord; archivedAt: string }>();
  for (const e of await archive.list()) if (!present.has(e.record.serial)) last.set(e.record.serial, e);
  const archived = [...last.values()];
  return { report: { method: 'archive', retentionDays, archived: archived.length, awaitingCleanup, archive: archive.location }, archived };
}
