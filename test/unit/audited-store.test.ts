/**
 * The audited store on a real local store: what a command's writes record, the `failure` event of a run that
 * changed something and then failed, the repair of a publication a crash left unrecorded, and the one call a
 * command makes for a write the store does not see (AuditRecorder.record).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { auditStore, type AuditSession } from '../../src/domain/audited-store.js';
import { verifyChain } from '../../src/domain/audit.js';
import { conflict } from '../../src/domain/errors.js';
import { fixedClock } from '../../src/domain/context.js';
import { issueClient } from '../../src/domain/issuance.js';
import { syncTruststore } from '../../src/domain/hierarchy.js';
import { T0, cleanupAll, makeCa } from '../helpers/pki.js';

afterAll(cleanupAll);

const session = (operation: string): AuditSession => ({ operation, command: ['ca', operation], run: 'feedfacecafebeef', version: '9.9.9', clock: fixedClock(T0) });

describe('auditStore', () => {
  it('a commit records one event naming its serials and client ids, with the session\'s facts', async () => {
    const ca = await makeCa();
    const { store, recorder } = auditStore(ca.store, session('issue-client'));
    const before = (await store.audit.read()).length;
    const r = await store.lock.withLock(() => issueClient({ ...ca.ctx(), store }, { clientId: 'acme' }));
    const events = (await store.audit.read()).slice(before);
    expect(events).toMatchObject([{ operation: 'issue-client', change: 'registry', result: 'ok', serials: [r.record!.serial], clientIds: ['acme'], run: 'feedfacecafebeef', version: '9.9.9', time: T0.toISOString() }]);
    expect(events[0]!.actor).toMatch(/.+@.+/);
    expect(recorder.written).toBe(1);
  });

  it('a run that changed something and then failed ends with a `failure` event (exit code and category); one that changed nothing leaves none', async () => {
    const ca = await makeCa();
    const { store } = auditStore(ca.store, session('issue-client'));
    const n = (await store.audit.read()).length;
    await expect(
      store.lock.withLock(async () => {
        throw conflict('refused before any write');
      }),
    ).rejects.toThrow(/refused/);
    expect(await store.audit.read()).toHaveLength(n);
    await expect(
      store.lock.withLock(async () => {
        await issueClient({ ...ca.ctx(), store }, { clientId: 'half' });
        throw conflict('stopped after a write');
      }),
    ).rejects.toThrow(/stopped/);
    const events = (await store.audit.read()).slice(n);
    expect(events.map((e) => [e.change, e.result])).toEqual([
      ['registry', 'ok'],
      ['failure', 'failed'],
    ]);
    expect(events[1]!.exit).toEqual({ code: 5, category: 'conflict' });
    expect(verifyChain(await store.audit.read(), await store.audit.head()).ok).toBe(true);
  });

  it('a publication a crash left unrecorded (published, no event) is recorded by the next run that publishes', async () => {
    // makeCa bootstraps through the raw store: its publication is exactly one a run made and never recorded
    const ca = await makeCa();
    const published = (await ca.store.truststore.current())!.version;
    const { store } = auditStore(ca.store, session('truststore publish'));
    expect(await store.audit.read()).toEqual([]);
    const r = await store.lock.withLock(() => syncTruststore({ ...ca.ctx(), store }));
    expect(r.changed).toBe(false);
    expect(await store.audit.read()).toMatchObject([{ operation: 'truststore publish', change: 'truststore', truststoreVersion: published }]);
    // once recorded, a publication that changes nothing records nothing
    await store.lock.withLock(() => syncTruststore({ ...ca.ctx(), store }));
    expect(await store.audit.read()).toHaveLength(1);
  });

  it('AuditRecorder.record: the one call a command makes for a write the store does not see', async () => {
    const ca = await makeCa();
    const { store, recorder } = auditStore(ca.store, session('token-key rotate'));
    const e = await store.lock.withLock(() => recorder.record({ detail: { keyId: 'k-2026-03' } }));
    expect(e).toMatchObject({ operation: 'token-key rotate', change: 'other', result: 'ok', serials: [], clientIds: [], detail: { keyId: 'k-2026-03' } });
    expect((await store.audit.read()).at(-1)).toEqual(e);
    expect(recorder.written).toBe(1);
  });
});
