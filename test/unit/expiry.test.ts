import { appendFileSync, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { acceptance } from '../../src/domain/acceptance.js';
import { compact } from '../../src/domain/cleanup.js';
import { rotateIntermediate } from '../../src/domain/hierarchy.js';
import { issueClient, renew } from '../../src/domain/issuance.js';
import { pastRetention, retentionEnd } from '../../src/domain/retention.js';
import { revoke } from '../../src/domain/revocation.js';
import { status } from '../../src/domain/reporting.js';
import { after, cleanupAll, DAY, makeCa } from '../helpers/pki.js';

afterAll(cleanupAll);

const caWarnings = (ws: string[]) => ws.filter((w) => /root CA|intermediate/.test(w));

describe('status: a CA certificate near its end without a successor', () => {
  it('warns about the issuing intermediate near its end, and no more once a rotation gave it a successor', async () => {
    const ca = await makeCa({ policy: { intermediateValidityDays: 40 } });
    // a client keeps the previous intermediate trusted after the rotation (its old certificate is in grace)
    await issueClient(ca.ctx(after(DAY)), { clientId: 'acme', validityDays: 10 });
    const far = await status(ca.ctx(after(5 * DAY)), 30);
    expect(caWarnings(far.warnings)).toEqual([]);
    await issueClient(ca.ctx(after(19 * DAY)), { clientId: 'acme', validityDays: 10, replace: true });
    const near = await status(ca.ctx(after(20 * DAY)), 30);
    expect(caWarnings(near.warnings)).toHaveLength(1);
    expect(caWarnings(near.warnings)[0]).toMatch(/^the issuing intermediate .* expires in \d+ days .* and has no successor: run `ca rotate-intermediate`$/);

    await rotateIntermediate(ca.ctx(after(20 * DAY), { intermediateValidityDays: 400 }));
    const rotated = await status(ca.ctx(after(20 * DAY + 60_000)), 30);
    // the previous intermediate still ends within 30 days, but the new one succeeds it
    expect(rotated.intermediates.find((i) => i.status === 'superseded')!.daysLeft).toBeLessThan(30);
    expect(caWarnings(rotated.warnings)).toEqual([]);
  });

  it('warns about a root near its end, and says a rotation cannot help an intermediate that ends with it', async () => {
    const ca = await makeCa({ policy: { rootValidityDays: 40 } });
    const s = await status(ca.ctx(after(20 * DAY)), 30);
    const ws = caWarnings(s.warnings);
    expect(ws).toHaveLength(2);
    expect(ws[0]).toMatch(/^root CA expires in \d+ days .*: replace the CA with `ca bootstrap --force` before then$/);
    expect(ws[1]).toMatch(/has no successor: a new intermediate cannot outlive the root, which ends then too: replace the CA with `ca bootstrap --force`$/);
  });
});

describe('retention: which records are cleaned up, and when', () => {
  const base = { kind: 'client' as const, notAfter: '2026-06-01T00:00:00.000Z' };
  it('only superseded (from the end of grace) and revoked (from notAfter) client records; never active, CA or undated ones', () => {
    expect(retentionEnd({ ...base, status: 'superseded', graceUntil: '2026-04-01T00:00:00.000Z' }, 90)!.toISOString()).toBe('2026-06-30T00:00:00.000Z');
    expect(retentionEnd({ ...base, status: 'superseded' }, 90)!.toISOString()).toBe('2026-08-30T00:00:00.000Z');
    // a revoked certificate stays on the CRL until it expires: its retention starts at notAfter, not at revocation
    expect(retentionEnd({ ...base, status: 'revoked' }, 10)!.toISOString()).toBe('2026-06-11T00:00:00.000Z');
    expect(retentionEnd({ ...base, status: 'active' }, 90)).toBeUndefined();
    expect(retentionEnd({ ...base, kind: 'intermediate', status: 'superseded' }, 90)).toBeUndefined();
    expect(retentionEnd({ ...base, kind: 'root', status: 'retired' }, 90)).toBeUndefined();
    expect(retentionEnd({ ...base, status: 'revoked', notAfter: 'garbage' }, 90)).toBeUndefined();
  });

  it('a record past its retention is one the authorizer refuses anyway, so nothing relies on its removal', () => {
    const statuses = ['active', 'superseded', 'revoked', 'retired'] as const;
    const t0 = Date.parse('2026-01-01T00:00:00.000Z');
    let checked = 0;
    for (const status of statuses)
      for (const graceDays of [undefined, 0, 3, 400])
        for (const retention of [1, 90])
          for (let day = -5; day <= 600; day += 7) {
            const r = { kind: 'client' as const, status, notBefore: new Date(t0 - 5 * DAY).toISOString(), notAfter: new Date(t0 + 365 * DAY).toISOString(), ...(graceDays === undefined ? {} : { graceUntil: new Date(t0 + graceDays * DAY).toISOString() }) };
            const now = new Date(t0 + day * DAY);
            if (!pastRetention(r, now, retention)) continue;
            checked++;
            expect(acceptance(r, now).accepted, `${JSON.stringify(r)} at ${now.toISOString()}`).toBe(false);
          }
    expect(checked).toBeGreaterThan(100);
  });
});

describe('ca compact on the local store: the archive', () => {
  const HOUR = 60 * 60 * 1000;
  /** alice renewed (her first certificate superseded, grace 7 days), bob revoked, carol active and expired */
  async function population() {
    const ca = await makeCa();
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'alice', validityDays: 30 });
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'bob', validityDays: 30 });
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'carol', validityDays: 10 });
    const issued = (await ca.store.registry.list({ clientId: 'alice' }))[0]!;
    await renew(ca.ctx(after(10 * DAY)), { clientId: 'alice' });
    // as it is now: superseded, in grace for 7 days
    const first = (await ca.store.registry.get(issued.serial))!;
    await revoke(ca.ctx(after(2 * DAY)), { clientId: 'bob' });
    const archivePath = join(ca.storeDir, 'registry-archive.jsonl');
    const serials = async () => new Set((await ca.store.registry.list({ kind: 'client' })).map((r) => r.serial));
    return { ca, first, archivePath, serials };
  }
  const run = (ca: Awaited<ReturnType<typeof makeCa>>, at: Date, retentionDays = 90) => ca.store.lock.withLock(() => compact(ca.ctx(at), { retentionDays }));

  it('moves each record out once its retention is over, never an active one, and a second run changes nothing', async () => {
    const { ca, first, archivePath, serials } = await population();
    const bob = (await ca.store.registry.list({ clientId: 'bob' }))[0]!;
    // alice's first certificate: grace ends 17 days after T0, retention 90 days after that
    expect((await run(ca, after(17 * DAY + 89 * DAY))).records).toEqual([]);
    expect(existsSync(archivePath)).toBe(false);
    const r = await run(ca, after(17 * DAY + 90 * DAY + HOUR));
    expect(r.method).toBe('archive');
    expect(r.records.map((x) => x.serial)).toEqual([first.serial]);
    expect((await serials()).has(first.serial)).toBe(false);
    // on disk: registry.json (what ca gateway reads) no longer holds it, the archive does
    expect(readFileSync(ca.registryPath, 'utf8')).not.toContain(first.serial);
    const archived = await ca.store.archive!.list();
    expect(archived.map((a) => a.record)).toEqual([first]);
    const bytes = readFileSync(archivePath);
    expect(statSync(archivePath).mode & 0o777).toBe(0o600);

    // idempotent: the same run again finds nothing and writes nothing
    expect((await run(ca, after(17 * DAY + 90 * DAY + HOUR))).records).toEqual([]);
    expect(readFileSync(archivePath).equals(bytes)).toBe(true);

    // bob was revoked, but he stays (and on a CRL) until 90 days after his certificate's end
    expect((await run(ca, after(30 * DAY + 89 * DAY))).records).toEqual([]);
    expect((await run(ca, after(30 * DAY + 91 * DAY))).records.map((x) => x.serial)).toEqual([bob.serial]);
    // carol's certificate expired long ago but is still her active one; alice's renewal is active too
    const left = await ca.store.registry.list({ kind: 'client' });
    expect(left.map((x) => [x.clientId, x.status]).sort()).toEqual([['alice', 'active'], ['carol', 'active']]);
    expect((await run(ca, after(3000 * DAY))).records.map((x) => x.clientId).sort()).toEqual([]);
    expect((await ca.store.archive!.list()).map((a) => a.record.clientId)).toEqual(['alice', 'bob']);
  });

  it('never cleans a superseded certificate still in its grace period, whatever the retention', async () => {
    const ca = await makeCa({ policy: { graceDays: 30 } });
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'dave', validityDays: 5 });
    await renew(ca.ctx(after(2 * DAY)), { clientId: 'dave' });
    // grace is capped at the old certificate's end (5 days): in grace until then, cleaned 1 day after with retention 1
    expect((await run(ca, after(5 * DAY), 1)).records).toEqual([]);
    expect((await run(ca, after(6 * DAY - 2 * HOUR), 1)).records).toEqual([]);
    expect((await run(ca, after(6 * DAY + 2 * HOUR), 1)).records.map((r) => r.status)).toEqual(['superseded']);
    const active = await ca.store.registry.list({ clientId: 'dave', status: 'active' });
    expect(active).toHaveLength(1);
  });

  it('a crash between archiving and removing is finished by the re-run, without archiving twice; a torn archive line is cut off', async () => {
    const { ca, first, archivePath, serials } = await population();
    const when = after(17 * DAY + 91 * DAY);
    const inner = (ca.store.archive as unknown as { registry: { remove: (rs: unknown[]) => number } }).registry;
    const remove = inner.remove.bind(inner);
    inner.remove = () => {
      throw new Error('crash after the archive append');
    };
    await expect(run(ca, when)).rejects.toThrow(/crash after the archive append/);
    inner.remove = remove;
    // both hold it: the registry (the authorizer refuses it: its grace ended) and the archive
    expect((await serials()).has(first.serial)).toBe(true);
    expect((await ca.store.archive!.list()).map((a) => a.record.serial)).toEqual([first.serial]);
    // a later crash cut an append short
    appendFileSync(archivePath, '{"record":{"serial":"tor');
    const again = await run(ca, when);
    expect(again.records.map((r) => r.serial)).toEqual([first.serial]);
    expect((await serials()).has(first.serial)).toBe(false);
    // the torn line is no record; the next append cuts it off before writing
    expect((await ca.store.archive!.list()).map((a) => a.record.serial)).toEqual([first.serial]);
    expect((await run(ca, after(30 * DAY + 91 * DAY))).records.map((r) => r.clientId)).toEqual(['bob']);
    expect((await ca.store.archive!.list()).map((a) => a.record.clientId)).toEqual(['alice', 'bob']);
    expect(readFileSync(archivePath, 'utf8')).not.toContain('"tor');
    expect(readFileSync(archivePath, 'utf8').endsWith('\n')).toBe(true);
  });

  it('refuses to remove a record that changed since it was read, removing nothing', async () => {
    const { ca, first, serials } = await population();
    const changed = { ...first, subject: 'CN=someone else' };
    await expect(ca.store.lock.withLock(() => ca.store.archive!.archive([changed], after(200 * DAY)))).rejects.toMatchObject({ code: 'conflict' });
    expect((await serials()).has(first.serial)).toBe(true);
  });
});

describe('renew --expiring-within and an issuing intermediate near its end', () => {
  it('renews what a new certificate extends, and leaves (and names) those the intermediate caps at their present end', async () => {
    const ca = await makeCa({ policy: { intermediateValidityDays: 40 } });
    await issueClient(ca.ctx(after(60_000)), { clientId: 'ed', validityDays: 30 });
    // issued when the intermediate has 20 days left: capped at its end
    await issueClient(ca.ctx(after(20 * DAY)), { clientId: 'fay', validityDays: 365 });
    const warnings: string[] = [];
    const ctx = { ...ca.ctx(after(25 * DAY)), warn: (m: string) => warnings.push(m) };
    const first = await renew(ctx, { expiringWithinDays: 30 });
    expect(first.renewed.map((r) => r.clientId)).toEqual(['ed']);
    expect(first.skipped).toEqual([{ clientId: 'fay', serial: expect.any(String), reason: 'issuer-ends-first' }]);
    expect(warnings).toEqual([expect.stringMatching(/^1 client\(s\) inside the window not renewed: the issuing intermediate ends .*\(fay\); run `ca rotate-intermediate`$/)]);
    // ed's new certificate ends with the intermediate too: the next day's run renews nobody again
    const next = await renew({ ...ca.ctx(after(26 * DAY)), warn: () => {} }, { expiringWithinDays: 30 });
    expect(next.renewed).toEqual([]);
    expect(next.skipped.map((x) => x.clientId)).toEqual(['ed', 'fay']);
  });
});
