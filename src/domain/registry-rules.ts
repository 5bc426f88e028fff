import type { CertificateRecord, CertStatus, RegistryChange, RegistryLimits } from '../ports.js';
import { type CaError, conflict } from './errors.js';

/**
 * What a registry commit must satisfy, decided here once for every adapter: a created serial is new, an
 * updated one is stored with the status the change expects, and a client never ends up with more than one
 * active certificate. Adapters read what a commit touches, ask `checkGroup`, and write; the DynamoDB adapter
 * also keeps the same conditions in its transaction (that is what makes it safe between processes) and asks
 * `checkGroup` what a failed condition means.
 */

/** The net effect of a commit on one serial: several changes to one serial fold into one. */
export interface NetChange {
  serial: string;
  /** the serial is new: this commit creates it */
  create: boolean;
  /** updates only: the status the stored record must have now */
  expect?: CertStatus;
  /** the record as the commit leaves it */
  record: CertificateRecord;
}

/** The changes that land together: one client's (key `client:<id>`), or the CA records' (key `ca`). */
export interface ChangeGroup {
  key: string;
  /** the client id; absent for the CA group */
  clientId?: string;
  changes: NetChange[];
}

/** What the registry holds now, as far as a commit's checks need it. */
export interface RegistryView {
  /** the stored record of `serial`, undefined when there is none */
  record(serial: string): CertificateRecord | undefined;
  /** the serials of the client's certificates stored as active (at most one in a sound registry) */
  activeSerials(clientId: string): Iterable<string>;
}

/**
 * apply: the group may be written. applied: every change is already exactly in place (an earlier attempt of
 * this very commit landed and its answer was lost): nothing to write, and the commit succeeded.
 * violation: an invariant would break; nothing of the group may be written.
 */
export type GroupVerdict = { kind: 'apply' } | { kind: 'applied' } | { kind: 'violation'; error: CaError };

const groupKey = (r: CertificateRecord) => (r.kind === 'client' ? `client:${r.clientId}` : 'ca');

/**
 * Folds a commit's changes per serial and groups them per client (CA records together), groups and their
 * changes in order of first appearance. Needs no stored state.
 * @throws CaError conflict when the changes contradict each other: a serial created twice, an update expecting a
 * status an earlier change of the same commit does not leave, two active certificates for one client
 */
export function planRegistryCommit(changes: readonly RegistryChange[]): ChangeGroup[] {
  const nets = new Map<string, NetChange>();
  for (const c of changes) {
    const s = c.record.serial;
    const n = nets.get(s);
    if (!n) {
      nets.set(s, c.op === 'create' ? { serial: s, create: true, record: c.record } : { serial: s, create: false, expect: c.expect, record: c.record });
    } else if (c.op === 'create') {
      throw alreadyInRegistry(s);
    } else {
      if (n.record.status !== c.expect) throw unexpectedStatus(s, n.record.status, c.expect);
      n.record = c.record;
    }
  }
  const groups = new Map<string, ChangeGroup>();
  for (const n of nets.values()) {
    const key = groupKey(n.record);
    let g = groups.get(key);
    if (!g) {
      g = { key, ...(n.record.kind === 'client' ? { clientId: n.record.clientId } : {}), changes: [] };
      groups.set(key, g);
    }
    g.changes.push(n);
  }
  for (const g of groups.values()) {
    const active = g.clientId === undefined ? 0 : g.changes.filter((n) => n.record.status === 'active').length;
    if (active > 1) throw tooManyActive(g.clientId!, active);
  }
  return [...groups.values()];
}

/**
 * Checks one group of a planned commit against the stored state, in the order of its changes: `applied` when
 * every change is already exactly in place, else the first invariant it would break, else `apply`.
 */
export function checkGroup(group: ChangeGroup, view: RegistryView): GroupVerdict {
  const stored = group.changes.map((n) => view.record(n.serial));
  if (group.changes.every((n, i) => stored[i] !== undefined && sameRecord(stored[i]!, n.record))) return { kind: 'applied' };
  for (const [i, n] of group.changes.entries()) {
    const existing = stored[i];
    if (n.create && existing) return { kind: 'violation', error: alreadyInRegistry(n.serial) };
    if (!n.create) {
      if (!existing) return { kind: 'violation', error: conflict(`serial ${n.serial} is not in the registry`) };
      if (existing.status !== n.expect) return { kind: 'violation', error: unexpectedStatus(n.serial, existing.status, n.expect!) };
    }
  }
  if (group.clientId !== undefined) {
    const changed = new Map(group.changes.map((n) => [n.serial, n.record]));
    const untouched = [...view.activeSerials(group.clientId)].filter((s) => !changed.has(s));
    const after = [...untouched, ...group.changes.filter((n) => n.record.status === 'active').map((n) => n.serial)];
    if (after.length > 1) {
      return {
        kind: 'violation',
        error: untouched.length
          ? conflict(`client ${group.clientId} already has an active certificate (serial ${untouched[0]})`, 'another command issued one meanwhile: re-run the command')
          : tooManyActive(group.clientId, after.length),
      };
    }
  }
  return { kind: 'apply' };
}

/**
 * Checks every group; the first violation, in group order, is thrown.
 * @returns each group's verdict, `apply` or `applied`
 * @throws CaError conflict naming the serial or client whose invariant the commit would break
 */
export function assertCommit(groups: readonly ChangeGroup[], view: RegistryView): GroupVerdict[] {
  return groups.map((g) => {
    const v = checkGroup(g, view);
    if (v.kind === 'violation') throw v.error;
    return v;
  });
}

/**
 * Independent changes in consecutive slices that each fit one atomic commit within `limits` (one slice when
 * there is no limit), in order: commit them one after another, and a re-run after an interruption finds the
 * earlier slices done.
 */
export function atomicChunks<T>(changes: readonly T[], limits: RegistryLimits): T[][] {
  const size = Number.isFinite(limits.maxAtomicChanges) ? Math.max(1, Math.floor(limits.maxAtomicChanges)) : changes.length;
  const out: T[][] = [];
  for (let i = 0; i < changes.length; i += size) out.push(changes.slice(i, i + size));
  return out;
}

/** Field-by-field equality of two records; an absent field and an undefined one are the same. */
export function sameRecord(a: CertificateRecord, b: CertificateRecord): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)] as (keyof CertificateRecord)[]);
  for (const k of keys) if (a[k] !== b[k] && canonical(a[k]) !== canonical(b[k])) return false;
  return true;
}

/** JSON with object keys sorted and undefined members dropped, for structured fields. */
function canonical(v: unknown): string | undefined {
  if (v === undefined || v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => canonical(x) ?? 'null').join(',')}]`;
  const entries = Object.entries(v as Record<string, unknown>).filter(([, x]) => x !== undefined).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
  return `{${entries.map(([k, x]) => `${JSON.stringify(k)}:${canonical(x)}`).join(',')}}`;
}

const alreadyInRegistry = (serial: string) => conflict(`serial ${serial} is already in the registry`);
const unexpectedStatus = (serial: string, status: CertStatus, expect: CertStatus) =>
  conflict(`certificate ${serial} is ${status}, expected ${expect}: another command changed it`, 're-run the command');
const tooManyActive = (clientId: string, n: number) => conflict(`client ${clientId} would have ${n} active certificates`);
