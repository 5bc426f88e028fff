/**
 * A rotation stopped after any one of its writes, then run again: the re-run finishes that rotation and never
 * starts a second one. The crash is simulated in process (the write is done, then the operation throws), at every
 * write of the rotation in turn, so each window between two writes is hit exactly once; test/e2e/crash.test.ts
 * kills the real binary instead.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { loadCaState } from '../../src/domain/ca-state.js';
import type { OperationContext } from '../../src/domain/context.js';
import { rotateIntermediate } from '../../src/domain/hierarchy.js';
import { issueClient, renew } from '../../src/domain/issuance.js';
import { status } from '../../src/domain/reporting.js';
import type { CertificateRecord, Store } from '../../src/ports.js';
import { after, cleanupAll, DAY, makeCa, parseCert, pemCerts, type TestCa } from '../helpers/pki.js';

afterAll(cleanupAll);

const ISSUE_AT = after(60 * 60 * 1000);
const ROTATE_AT = after(DAY);
const RERUN_AT = after(DAY + 60 * 60 * 1000);
/** clients per re-issue chunk: 7 clients make 3 chunks */
const CHUNK = 3;
/** more writes than any rotation here makes */
const MAX_WRITES = 20;

class SimulatedCrash extends Error {}

/**
 * `ctx` with a store whose `crashAfter`-th write (a registry commit or a truststore publication) is carried out,
 * after which every later call throws: the process died right after that write.
 */
function crashingAfter(ctx: OperationContext, crashAfter: number): { ctx: OperationContext; writes: () => number } {
  const s = ctx.store;
  let writes = 0;
  const write = async <T>(f: () => Promise<T>): Promise<T> => {
    if (writes >= crashAfter) throw new SimulatedCrash(`simulated crash after write ${crashAfter}`);
    const r = await f();
    writes++;
    if (writes === crashAfter) throw new SimulatedCrash(`simulated crash after write ${crashAfter}`);
    return r;
  };
  const store: Store = {
    name: s.name,
    custody: s.custody,
    lock: s.lock,
    crls: s.crls,
    audit: s.audit,
    describe: () => s.describe(),
    registry: { limits: s.registry.limits, get: (serial) => s.registry.get(serial), list: (q) => s.registry.list(q), commit: (c, o) => write(() => s.registry.commit(c, o)) },
    truststore: { current: () => s.truststore.current(), drift: () => s.truststore.drift(), sync: (pem) => write(() => s.truststore.sync(pem)) },
  };
  return { ctx: { ...ctx, store }, writes: () => writes };
}

async function caWith(clients: number): Promise<TestCa> {
  const ca = await makeCa();
  for (let i = 0; i < clients; i++) await issueClient(ca.ctx(ISSUE_AT), { clientId: `c${i}` });
  return ca;
}

const withChunks = (ctx: OperationContext): OperationContext => ({ ...ctx, chunkSize: CHUNK });
const serialsOf = (pem: string) => pemCerts(pem).map((c) => parseCert(c).serialHex);

/** The invariants of a finished rotation from `g1`, with `before` the active clients it started from. */
async function expectFinishedRotation(ca: TestCa, g1: CertificateRecord, before: CertificateRecord[]): Promise<CertificateRecord> {
  const intermediates = await ca.store.registry.list({ kind: 'intermediate' });
  expect(intermediates, 'one intermediate more than before the rotation').toHaveLength(2);
  const s = await loadCaState(ca.store.registry);
  const g2 = s.issuing!;
  expect(g2.serial).not.toBe(g1.serial);
  expect(g2.rotatedFrom).toBe(g1.serial);
  expect(g2.rotationCompletedAt).toBeDefined();
  const active = await ca.store.registry.list({ kind: 'client', status: 'active' });
  expect(active.map((r) => r.clientId).sort()).toEqual(before.map((r) => r.clientId).sort());
  for (const r of active) expect(r.issuerSerial, `${r.clientId} moved to the new intermediate`).toBe(g2.serial);
  // the previous intermediate stays trusted while its superseded certificates are in their grace period
  expect(serialsOf(ca.truststoreFile())).toEqual(before.length ? [g2.serial, g1.serial, s.root!.serial] : [g2.serial, s.root!.serial]);
  return g2;
}

/** Crashes a rotation after its 1st, 2nd, ... write, re-runs it each time, until a rotation makes fewer writes. */
async function crashAtEveryWrite(clients: number): Promise<number> {
  let endRecordedBy: number | undefined;
  for (let k = 1; k <= MAX_WRITES; k++) {
    const ca = await caWith(clients);
    const g1 = (await loadCaState(ca.store.registry)).issuing!;
    const before = await ca.store.registry.list({ kind: 'client', status: 'active' });
    const crashing = crashingAfter(withChunks(ca.ctx(ROTATE_AT)), k);
    const crashed = await rotateIntermediate(crashing.ctx).then(
      () => false,
      (e) => {
        if (!(e instanceof SimulatedCrash)) throw e;
        return true;
      },
    );
    if (!crashed) {
      // k is past the rotation's last write: every window has been tried
      await expectFinishedRotation(ca, g1, before);
      expect(endRecordedBy, "the rotation's end is recorded by its last write").toBe(k - 1);
      return k - 1;
    }
    if ((await loadCaState(ca.store.registry)).issuing!.rotationCompletedAt) {
      // stopped after the rotation's last write: it is finished, and running it again starts a new one
      await expectFinishedRotation(ca, g1, before);
      endRecordedBy = k;
      continue;
    }
    const rerun = await rotateIntermediate(withChunks(ca.ctx(RERUN_AT)));
    // the first write records the new intermediate: from then on the re-run finishes, it does not start over
    expect(rerun.plan.newIntermediate, `re-run after a crash after write ${k}`).toBe(false);
    const g2 = await expectFinishedRotation(ca, g1, before);
    expect(rerun.intermediate!.serial).toBe(g2.serial);
  }
  throw new Error(`a rotation made more than ${MAX_WRITES} writes`);
}

describe('a rotation stopped after any of its writes', () => {
  it('is finished by the re-run with one new intermediate, also when it stopped after its last client was recorded', async () => {
    // writes: the new intermediate, the truststore, 3 chunks, the final truststore sync, the rotation's end
    expect(await crashAtEveryWrite(7)).toBe(7);
  });

  it('is finished by the re-run with one new intermediate when there are no clients to move', async () => {
    expect(await crashAtEveryWrite(0)).toBe(5);
  });

  it('whose clients all moved by `renew --all` meanwhile is finished, not repeated, and the rotation after it is a new one', async () => {
    const ca = await caWith(4);
    const g1 = (await loadCaState(ca.store.registry)).issuing!;
    const before = await ca.store.registry.list({ kind: 'client', status: 'active' });
    // stopped after the new intermediate and the truststore were written, before any client moved
    await expect(rotateIntermediate(crashingAfter(withChunks(ca.ctx(ROTATE_AT)), 2).ctx)).rejects.toThrow(SimulatedCrash);
    await renew(ca.ctx(RERUN_AT), { all: true });
    const dry = await rotateIntermediate(ca.ctx(RERUN_AT), { dryRun: true });
    expect(dry.plan).toMatchObject({ newIntermediate: false, reissue: [] });
    const r = await rotateIntermediate(ca.ctx(RERUN_AT));
    expect(r.plan.newIntermediate).toBe(false);
    await expectFinishedRotation(ca, g1, before);
    const next = await rotateIntermediate(ca.ctx(after(2 * DAY)));
    expect(next.plan.newIntermediate).toBe(true);
    expect(await ca.store.registry.list({ kind: 'intermediate' })).toHaveLength(3);
  });

  it('is named by `ca status` until the re-run finishes it', async () => {
    const ca = await caWith(0);
    await expect(rotateIntermediate(crashingAfter(ca.ctx(ROTATE_AT), 2).ctx)).rejects.toThrow(SimulatedCrash);
    const g2 = (await loadCaState(ca.store.registry)).issuing!;
    expect((await status(ca.ctx(RERUN_AT))).warnings).toContain(`the rotation to ${g2.subject} is unfinished: run \`ca rotate-intermediate\` to finish it`);
    await rotateIntermediate(ca.ctx(RERUN_AT));
    expect((await status(ca.ctx(RERUN_AT))).warnings.filter((w) => /rotation/.test(w))).toEqual([]);
  });
});
