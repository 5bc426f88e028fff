/**
 * The registry's commit invariants, decided once in the domain (src/domain/registry-rules.ts) for every adapter:
 * on the changes alone, and on the changes against the stored records they touch.
 */
import { describe, expect, it } from 'vitest';
import { CaError } from '../../src/domain/errors.js';
import { assertCommit, atomicChunks, checkGroup, planRegistryCommit, sameRecord, type RegistryView } from '../../src/domain/registry-rules.js';
import type { CertificateRecord, RegistryChange } from '../../src/ports.js';

let n = 0;
function record(over: Partial<CertificateRecord> = {}): CertificateRecord {
  n++;
  return {
    serial: `a${n.toString(16).padStart(6, '0')}`,
    kind: 'client',
    clientId: 'alice',
    status: 'active',
    fingerprint: 'f'.repeat(64),
    subject: 'CN=alice',
    issuer: 'CN=Issuing',
    notBefore: '2026-03-01T00:00:00.000Z',
    notAfter: '2027-03-01T00:00:00.000Z',
    keyType: 'ec-p256',
    publicKey: 'AAAA',
    keyOrigin: 'generated',
    certificatePem: 'pem',
    createdAt: '2026-03-01T00:00:00.000Z',
    ...over,
  };
}

function view(records: CertificateRecord[]): RegistryView {
  const by = new Map(records.map((r) => [r.serial, r]));
  return {
    record: (s) => by.get(s),
    activeSerials: (id) => records.filter((r) => r.kind === 'client' && r.clientId === id && r.status === 'active').map((r) => r.serial),
  };
}

function conflictOf(fn: () => unknown): CaError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(CaError);
    expect((e as CaError).code).toBe('conflict');
    return e as CaError;
  }
  throw new Error('expected a conflict');
}

const create = (record: CertificateRecord): RegistryChange => ({ op: 'create', record });

describe('registry commit rules', () => {
  it('folds changes per serial and groups them per client, CA records together, in order', () => {
    const root = record({ kind: 'root', clientId: 'root' });
    const inter = record({ kind: 'intermediate', clientId: 'intermediate' });
    const a = record({ clientId: 'a' });
    const b = record({ clientId: 'b' });
    const groups = planRegistryCommit([create(a), create(root), create(b), create(inter), { op: 'update', expect: 'active', record: { ...a, status: 'revoked' } }]);
    expect(groups.map((g) => g.key)).toEqual(['client:a', 'ca', 'client:b']);
    expect(groups[0]!.changes).toEqual([{ serial: a.serial, create: true, record: { ...a, status: 'revoked' } }]);
    expect(groups[1]!.clientId).toBeUndefined();
    expect(groups[1]!.changes.map((c) => c.serial)).toEqual([root.serial, inter.serial]);
  });

  it('refuses changes that contradict each other, with the messages the CLI shows', () => {
    const a = record({ clientId: 'c' });
    expect(conflictOf(() => planRegistryCommit([create(a), create(a)])).message).toBe(`serial ${a.serial} is already in the registry`);
    const e = conflictOf(() => planRegistryCommit([create(a), { op: 'update', expect: 'superseded', record: a }]));
    expect(e.message).toBe(`certificate ${a.serial} is active, expected superseded: another command changed it`);
    expect(e.hint).toBe('re-run the command');
    expect(conflictOf(() => planRegistryCommit([create(a), create(record({ clientId: 'c' }))])).message).toBe('client c would have 2 active certificates');
  });

  it('checks each group against the stored records: new serial, expected status, one active certificate per client', () => {
    const stored = record({ clientId: 'd' });
    const v = view([stored]);
    const [dup] = planRegistryCommit([create({ ...stored, fingerprint: '0'.repeat(64) })]);
    expect(conflictOf(() => assertCommit([dup!], v)).message).toBe(`serial ${stored.serial} is already in the registry`);
    const [ghost] = planRegistryCommit([{ op: 'update', expect: 'active', record: record({ clientId: 'd' }) }]);
    expect(conflictOf(() => assertCommit([ghost!], v)).message).toMatch(/is not in the registry$/);
    const [stale] = planRegistryCommit([{ op: 'update', expect: 'superseded', record: { ...stored, status: 'revoked' } }]);
    expect(conflictOf(() => assertCommit([stale!], v)).message).toBe(`certificate ${stored.serial} is active, expected superseded: another command changed it`);
    const [second] = planRegistryCommit([create(record({ clientId: 'd' }))]);
    const e = conflictOf(() => assertCommit([second!], v));
    expect(e.message).toBe(`client d already has an active certificate (serial ${stored.serial})`);
    expect(e.hint).toMatch(/re-run/);
    // superseding the stored one in the same group makes room
    const next = record({ clientId: 'd' });
    const [rotation] = planRegistryCommit([create(next), { op: 'update', expect: 'active', record: { ...stored, status: 'superseded' } }]);
    expect(checkGroup(rotation!, v)).toEqual({ kind: 'apply' });
    // the at-most-one rule is per client: another client's active certificate is no concern
    expect(checkGroup(planRegistryCommit([create(record({ clientId: 'other' }))])[0]!, v)).toEqual({ kind: 'apply' });
  });

  it('recognises a group already exactly in place as applied, and only a whole one', () => {
    const old = record({ clientId: 'e' });
    const next = record({ clientId: 'e' });
    const sup = { ...old, status: 'superseded' as const, supersededBy: next.serial };
    const [g] = planRegistryCommit([create(next), { op: 'update', expect: 'active', record: sup }]);
    expect(checkGroup(g!, view([old]))).toEqual({ kind: 'apply' });
    expect(checkGroup(g!, view([next, sup]))).toEqual({ kind: 'applied' });
    // half of it in place is no retry of this commit
    const v = checkGroup(g!, view([next, old]));
    expect(v.kind).toBe('violation');
    expect(v.kind === 'violation' && v.error.message).toBe(`serial ${next.serial} is already in the registry`);
  });

  it('compares records field by field, an absent field equal to an undefined one', () => {
    const a = record();
    expect(sameRecord(a, { ...a, graceUntil: undefined })).toBe(true);
    expect(sameRecord(a, { ...a, status: 'revoked' })).toBe(false);
    expect(sameRecord(a, { ...a, revokedAt: '2026-01-01T00:00:00.000Z' })).toBe(false);
  });

  it('slices independent changes into atomic commits within the limits, in order', () => {
    const items = Array.from({ length: 120 }, (_, i) => i);
    expect(atomicChunks(items, { maxAtomicChanges: 50 }).map((c) => c.length)).toEqual([50, 50, 20]);
    expect(atomicChunks(items, { maxAtomicChanges: 50 }).flat()).toEqual(items);
    expect(atomicChunks(items, { maxAtomicChanges: Number.POSITIVE_INFINITY })).toEqual([items]);
    expect(atomicChunks([], { maxAtomicChanges: 50 })).toEqual([]);
  });
});
