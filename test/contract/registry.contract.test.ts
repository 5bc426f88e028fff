import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JsonFileRegistry } from '../../src/adapters/local/json-registry.js';
import { DynamoDbRegistry } from '../../src/adapters/aws/dynamodb-registry.js';
import { CaError } from '../../src/domain/errors.js';
import { fixedClock } from '../../src/domain/context.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import { revoke } from '../../src/domain/revocation.js';
import type { AuditDraft, CertificateRecord, CertificateRegistry, RegistryChange, Store } from '../../src/ports.js';
import { createTable, unique, useMoto } from '../aws/moto-env.js';
import { fakeRecord as record, randomRecordSerial } from '../helpers/records.js';

const serial = randomRecordSerial;


async function expectConflict(p: Promise<unknown>, pattern: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e, 'expected a conflict').toBeInstanceOf(CaError);
  expect((e as CaError).code).toBe('conflict');
  expect((e as CaError).message).toMatch(pattern);
}

const sorted = (rs: CertificateRecord[]) => [...rs].sort((a, b) => a.serial.localeCompare(b.serial));

/** The CertificateRegistry contract; `make` returns a fresh, empty registry. */
function registryContract(name: string, make: () => Promise<CertificateRegistry>) {
  describe(`CertificateRegistry contract: ${name}`, () => {
    it('creates, reads back every field and filters lists by kind, client and status', async () => {
      const reg = await make();
      // the root carries the recorded CA profile, a client its requested validity length: both read back as written
      const root = record({ kind: 'root', clientId: 'root', keyOrigin: 'ca', keyRef: 'ref-root', issuerSerial: undefined, profile: { ...DEFAULT_POLICY, caKeyType: 'rsa-3072', spiffeTrustDomain: 'example.org' } });
      const inter = record({ kind: 'intermediate', clientId: 'intermediate', keyOrigin: 'ca', keyRef: 'ref-i', issuerSerial: root.serial });
      const a = record({ clientId: 'alice', spiffeId: 'spiffe://example.org/client/alice', validityDays: 30 });
      const bOld = record({ clientId: 'bob', status: 'revoked', revokedAt: '2026-03-02T00:00:00.000Z', revocationReason: 'keyCompromise' });
      const b = record({ clientId: 'bob' });
      await reg.commit([{ op: 'create', record: root }], { atomic: true });
      await reg.commit([{ op: 'create', record: inter }, { op: 'create', record: a }, { op: 'create', record: bOld }, { op: 'create', record: b }], { atomic: true });

      expect(await reg.get(a.serial)).toEqual(a);
      expect(await reg.get(bOld.serial)).toEqual(bOld);
      expect(await reg.get(root.serial)).toEqual(root);
      expect(await reg.get('ffff')).toBeUndefined();

      expect(sorted(await reg.list())).toEqual(sorted([root, inter, a, bOld, b]));
      expect(await reg.list({ kind: 'root' })).toEqual([root]);
      expect(await reg.list({ kind: 'intermediate' })).toEqual([inter]);
      expect(sorted(await reg.list({ kind: 'client' }))).toEqual(sorted([a, bOld, b]));
      expect(sorted(await reg.list({ clientId: 'bob' }))).toEqual(sorted([bOld, b]));
      expect(await reg.list({ kind: 'client', clientId: 'bob', status: 'active' })).toEqual([b]);
      expect(await reg.list({ status: 'revoked' })).toEqual([bOld]);
      expect(await reg.list({ clientId: 'carol' })).toEqual([]);
      expect(await reg.list({ clientId: 'root' })).toEqual([root]);
    });

    it('refuses a duplicate serial', async () => {
      const reg = await make();
      const a = record();
      await reg.commit([{ op: 'create', record: a }]);
      await expectConflict(reg.commit([{ op: 'create', record: { ...a, clientId: 'other' } }], { atomic: true }), new RegExp(a.serial));
      expect(await reg.list()).toEqual([a]);
    });

    it('refuses an update whose expected status is not the current one, changing nothing', async () => {
      const reg = await make();
      const a = record({ clientId: 'a' });
      const other = record({ clientId: 'b' });
      await reg.commit([{ op: 'create', record: a }, { op: 'create', record: other }], { atomic: true });
      const changes: RegistryChange[] = [
        { op: 'update', expect: 'active', record: { ...other, status: 'revoked', revokedAt: '2026-03-03T00:00:00.000Z' } },
        { op: 'update', expect: 'superseded', record: { ...a, status: 'revoked' } },
      ];
      await expectConflict(reg.commit(changes, { atomic: true }), new RegExp(`${a.serial}.*active, expected superseded`));
      expect(sorted(await reg.list())).toEqual(sorted([a, other]));
      await expectConflict(reg.commit([{ op: 'update', expect: 'active', record: record({ clientId: 'ghost' }) }]), /not in the registry/);
    });

    it('refuses two active certificates for one client, changing nothing', async () => {
      const reg = await make();
      const a1 = record({ clientId: 'dup' });
      const a2 = record({ clientId: 'dup' });
      const other = record({ clientId: 'bystander' });
      await expectConflict(reg.commit([{ op: 'create', record: other }, { op: 'create', record: a1 }, { op: 'create', record: a2 }], { atomic: true }), /dup/);
      expect(await reg.list()).toEqual([]);
      await reg.commit([{ op: 'create', record: a1 }], { atomic: true });
      await expectConflict(reg.commit([{ op: 'create', record: other }, { op: 'create', record: a2 }], { atomic: true }), /dup/);
      expect(await reg.list()).toEqual([a1]);
      // superseding the active one in the same commit is what makes room for the next
      const sup = { ...a1, status: 'superseded' as const, supersededBy: a2.serial, supersededAt: '2026-03-04T00:00:00.000Z', graceUntil: '2026-03-11T00:00:00.000Z' };
      await reg.commit([{ op: 'create', record: a2 }, { op: 'update', expect: 'active', record: sup }], { atomic: true });
      expect(await reg.list({ clientId: 'dup', status: 'active' })).toEqual([a2]);
      expect(await reg.get(a1.serial)).toEqual(sup);
    });

    // moto copies the whole table for every transaction action, so this takes tens of seconds there
    it('applies a non-atomic rotation of 250 clients (new certificate + superseded old one each)', async () => {
      const reg = await make();
      const olds = Array.from({ length: 250 }, (_, i) => record({ clientId: `client-${String(i).padStart(3, '0')}` }));
      await reg.commit(olds.map((r) => ({ op: 'create', record: r })));
      expect((await reg.list({ kind: 'client', status: 'active' })).length).toBe(250);
      const changes: RegistryChange[] = [];
      const news: CertificateRecord[] = [];
      for (const old of olds) {
        const next = record({ clientId: old.clientId, createdAt: '2026-06-01T00:00:00.000Z' });
        news.push(next);
        changes.push({ op: 'create', record: next }, { op: 'update', expect: 'active', record: { ...old, status: 'superseded', supersededBy: next.serial } });
      }
      await reg.commit(changes);
      expect(sorted(await reg.list({ status: 'active' }))).toEqual(sorted(news));
      expect((await reg.list({ status: 'superseded' })).length).toBe(250);
      expect(await reg.list({ clientId: 'client-137', status: 'active' })).toEqual([news[137]]);
    }, 240_000);

    it('is safe to retry: a commit applied once succeeds again and changes nothing more', async () => {
      const reg = await make();
      const old = record({ clientId: 'retry' });
      await reg.commit([{ op: 'create', record: old }]);
      const next = record({ clientId: 'retry' });
      const changes: RegistryChange[] = [{ op: 'create', record: next }, { op: 'update', expect: 'active', record: { ...old, status: 'superseded', supersededBy: next.serial } }];
      await reg.commit(changes);
      const after = sorted(await reg.list());
      await reg.commit(changes);
      await reg.commit(changes, { atomic: true });
      expect(sorted(await reg.list())).toEqual(after);
      expect(await reg.list({ clientId: 'retry', status: 'active' })).toEqual([next]);
      // the same serial with other content is somebody else's: still a conflict
      await expectConflict(reg.commit([{ op: 'create', record: { ...next, fingerprint: 'f'.repeat(64) } }]), /already in the registry/);
      // a retry whose first part landed while the rest did not is no retry: what changed meanwhile is reported
      const third = record({ clientId: 'retry', status: 'superseded' });
      await expectConflict(reg.commit([{ op: 'create', record: next }, { op: 'create', record: third }], { atomic: true }), new RegExp(`${next.serial} is already in the registry`));
      expect(sorted(await reg.list())).toEqual(after);
    });

    it('states its limits: an atomic commit of maxAtomicChanges changes of the costliest kind, with its audit event, is accepted', async () => {
      const reg = await make();
      const limit = reg.limits.maxAtomicChanges;
      expect(limit).toBeGreaterThanOrEqual(1);
      // the CLI's commits carry an audit event in the same atomic write: the limit leaves room for it
      const audit: AuditDraft = { time: '2026-03-01T12:00:00.000Z', operation: 'test', run: '0123456789abcdef', change: 'registry', result: 'ok', serials: [], clientIds: [], actor: 'test', version: '0', command: ['ca'] };
      // a first active certificate for a new client each: every change also moves its client's active serial
      const n = Math.min(limit, 60);
      const firsts = Array.from({ length: n }, (_, i) => record({ clientId: `lim-${i}` }));
      await reg.commit(firsts.map((r) => ({ op: 'create', record: r })), { atomic: true, audit });
      expect((await reg.list({ status: 'active' })).length).toBe(n);
      if (Number.isFinite(limit)) {
        // one more than the limit in that shape does not fit DynamoDB's 100 actions: refused before any write
        const more = Array.from({ length: limit + 1 }, (_, i) => record({ clientId: `over-${i}` }));
        const e = await reg.commit(more.map((r) => ({ op: 'create', record: r })), { atomic: true, audit }).then(() => undefined, (x: unknown) => x);
        expect(e).toBeInstanceOf(CaError);
        expect((e as CaError).code).toBe('internal');
        expect((await reg.list()).length).toBe(n);
      }
    });

    // 120 certificates of one client: more than one DynamoDB transaction holds, created in a few commits
    async function clientWith(reg: CertificateRegistry, clientId: string, total: number): Promise<CertificateRecord[]> {
      const at = (i: number) => new Date(Date.UTC(2026, 2, 1) + i * 60_000).toISOString();
      const superseded = Array.from({ length: total - 1 }, (_, i) =>
        record({ clientId, status: 'superseded', createdAt: at(i), supersededAt: at(i + 1), graceUntil: '2026-12-01T00:00:00.000Z' }),
      );
      const active = record({ clientId, createdAt: at(total) });
      // a client's group is one transaction on DynamoDB: at most 99 certificates and the index write
      for (let i = 0; i < superseded.length; i += 90) await reg.commit(superseded.slice(i, i + 90).map((r) => ({ op: 'create', record: r })));
      await reg.commit([{ op: 'create', record: active }]);
      return [active, ...superseded];
    }

    const revokeCtx = (registry: CertificateRegistry) => ({ store: { registry } as Store, clock: fixedClock('2026-06-01T00:00:00.000Z'), policy: DEFAULT_POLICY });

    it('revokes a client of 120 certificates in as many commits as its limits need, the active one first', async () => {
      const reg = await make();
      const all = await clientWith(reg, 'many', 120);
      const bystander = record({ clientId: 'bystander' });
      await reg.commit([{ op: 'create', record: bystander }]);
      const commits: RegistryChange[][] = [];
      const counted: CertificateRegistry = { limits: reg.limits, get: (s) => reg.get(s), list: (q) => reg.list(q), commit: (c, o) => (commits.push(c), reg.commit(c, o)) };
      const r = await revoke(revokeCtx(counted), { clientId: 'many', reason: 'keyCompromise' });
      expect(r.revoked).toHaveLength(120);
      expect(commits).toHaveLength(Math.ceil(120 / Math.min(120, reg.limits.maxAtomicChanges)));
      expect(commits.every((c) => c.length <= reg.limits.maxAtomicChanges)).toBe(true);
      expect(commits[0]![0]!.record.serial).toBe(all[0]!.serial);
      const after = await reg.list({ clientId: 'many' });
      expect(after).toHaveLength(120);
      expect(after.every((x) => x.status === 'revoked' && x.revocationReason === 'keyCompromise' && x.revokedAt === '2026-06-01T00:00:00.000Z')).toBe(true);
      expect(await reg.list({ clientId: 'many', status: 'active' })).toEqual([]);
      expect(await reg.get(bystander.serial)).toEqual(bystander);
    }, 240_000);

    it('resumes an interrupted revocation: the active certificate went first, a re-run revokes the rest', async () => {
      const reg = await make();
      const all = await clientWith(reg, 'resume', 120);
      // smaller limits than the adapter's force several commits on every adapter; the second never arrives
      let calls = 0;
      const crashing: CertificateRegistry = {
        limits: { maxAtomicChanges: 40 },
        get: (s) => reg.get(s),
        list: (q) => reg.list(q),
        commit: async (c, o) => {
          if (++calls === 2) throw new Error('simulated crash');
          return reg.commit(c, o);
        },
      };
      await expect(revoke(revokeCtx(crashing), { clientId: 'resume', reason: 'keyCompromise' })).rejects.toThrow(/simulated crash/);
      expect((await reg.get(all[0]!.serial))!.status).toBe('revoked');
      expect((await reg.list({ clientId: 'resume', status: 'revoked' })).length).toBe(40);
      const again = await revoke(revokeCtx(reg), { clientId: 'resume', reason: 'keyCompromise' });
      expect(again.alreadyRevoked).toHaveLength(40);
      expect(again.revoked).toHaveLength(80);
      expect((await reg.list({ clientId: 'resume', status: 'revoked' })).length).toBe(120);
      expect((await revoke(revokeCtx(reg), { clientId: 'resume' })).revoked).toEqual([]);
    }, 240_000);

    it('keeps each client group whole in a non-atomic commit that fails on one client', async () => {
      const reg = await make();
      const olds = ['g1', 'g2', 'g3'].map((c) => record({ clientId: c }));
      await reg.commit(olds.map((r) => ({ op: 'create', record: r })));
      const stale = { ...olds[1]!, status: 'revoked' as const };
      await reg.commit([{ op: 'update', expect: 'active', record: stale }]);
      const changes: RegistryChange[] = [];
      for (const old of olds) {
        const next = record({ clientId: old.clientId });
        changes.push({ op: 'create', record: next }, { op: 'update', expect: 'active', record: { ...old, status: 'superseded', supersededBy: next.serial } });
      }
      await expectConflict(reg.commit(changes), new RegExp(olds[1]!.serial));
      // g2's new certificate must not exist without its superseded predecessor
      expect(await reg.list({ clientId: 'g2' })).toEqual([stale]);
      for (const c of ['g1', 'g3']) {
        const rs = await reg.list({ clientId: c });
        const statuses = rs.map((r) => r.status).sort();
        expect([['active'], ['active', 'superseded']]).toContainEqual(statuses);
      }
    });
  });
}

describe('local', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  registryContract('JsonFileRegistry', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ca-contract-'));
    dirs.push(d);
    return new JsonFileRegistry(d);
  });
});

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  registryContract('DynamoDbRegistry', async () => {
    const tableName = unique('contract-registry');
    await createTable(env.clients.dynamodb, tableName);
    return new DynamoDbRegistry({ client: env.clients.dynamodb, tableName });
  });
});
