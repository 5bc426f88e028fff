import type { AuditDraft, AuditEvent, Clock, CommitOptions, RegistryChange, Store, TruststorePublisher, TruststoreState } from '../ports.js';
import { CaError } from './errors.js';
import { affectedBy } from './audit.js';

/** Who runs, and what: the same for every event one command run writes. */
export interface AuditSession {
  /** the command as its user typed it, e.g. `issue-client`, `truststore publish`, `token-key rotate` */
  operation: string;
  /** the command line, secrets removed (redactCommandLine) */
  command: string[];
  run: string;
  version: string;
  clock: Clock;
}

/** A command's own fact for its event, beyond what the store's writes say (see AuditRecorder.record). */
export interface AuditFacts {
  serials?: string[];
  clientIds?: string[];
  detail?: Record<string, string>;
}

/**
 * What a command uses to record a write the store does not see: `await recorder.record({ serials, detail })`
 * appends one event (change `other`) under the lock. Registry commits and truststore publications need no call:
 * the audited store records them.
 */
export interface AuditRecorder {
  record(facts: AuditFacts): Promise<AuditEvent>;
  /** events this run has written so far */
  readonly written: number;
}

/**
 * The store with every write recorded in its audit trail:
 * - `registry.commit`: the event goes into the same atomic write as the changes (CommitOptions.audit), one per
 *   part when the adapter splits the commit; no event when nothing was written;
 * - `truststore.sync`: one event (change `truststore`) after a publication that changed something (a new
 *   version, or a drifted copy repaired: `detail.repaired`), or whose version the trail has not recorded yet (an
 *   earlier run crashed between publishing and recording: the re-run records it);
 * - `lock.withLock`: a run that wrote events and then failed appends a last event, result `failed`, with the
 *   exit code and its category, before the lock is released (best effort: the failure may be the store's).
 * Returns the store and the recorder for writes the store does not see.
 */
export function auditStore<S extends Store>(store: S, session: AuditSession): { store: S; recorder: AuditRecorder } {
  let written = 0;
  let actor: Promise<string> | undefined;
  const draft = async (d: Pick<AuditDraft, 'change' | 'serials' | 'clientIds'> & Partial<AuditDraft>): Promise<AuditDraft> => ({
    time: session.clock.now().toISOString(),
    operation: session.operation,
    run: session.run,
    result: 'ok',
    actor: await (actor ??= store.audit.actor()),
    version: session.version,
    command: session.command,
    ...d,
  });
  const registry = store.registry;
  const auditedRegistry: typeof registry = {
    get limits() {
      return registry.limits;
    },
    get: (serial) => registry.get(serial),
    list: (q) => registry.list(q),
    async commit(changes: RegistryChange[], opts: CommitOptions = {}) {
      if (!changes.length) return registry.commit(changes, opts);
      const audit = opts.audit ?? (await draft({ change: 'registry', ...affectedBy(changes) }));
      const before = await store.audit.head();
      await registry.commit(changes, { ...opts, audit });
      const after = await store.audit.head();
      written += (after?.seq ?? 0) - (before?.seq ?? 0);
    },
  };
  const truststore = store.truststore;
  const auditedTruststore: TruststorePublisher = {
    current: () => truststore.current(),
    drift: () => truststore.drift(),
    async sync(pem: string) {
      // a drift the sync repairs (a served copy edited or deleted by hand) is a change too
      const drift = await truststore.drift();
      const r = await truststore.sync(pem);
      if (r.changed || drift.length || (await store.audit.lastTruststoreVersion()) !== r.state.version) await recordPublication(r.state, drift);
      return r;
    },
  };
  const recordPublication = async (state: TruststoreState, drift: string[]) => {
    const detail = drift.length ? { detail: { repaired: drift.join('; ').slice(0, 1000) } } : {};
    await store.audit.append(await draft({ change: 'truststore', serials: [], clientIds: [], truststoreVersion: state.version, ...detail }));
    written++;
  };
  const lock = store.lock;
  const auditedLock: typeof lock = {
    assertHeld: () => lock.assertHeld(),
    withLock: <T>(fn: () => Promise<T>) =>
      lock.withLock(async () => {
        try {
          return await fn();
        } catch (e) {
          if (written > 0) await recordFailure(e);
          throw e;
        }
      }),
  };
  const recordFailure = async (e: unknown) => {
    const exit = e instanceof CaError ? { code: e.exitCode, category: e.code } : { code: 1, category: 'internal' };
    try {
      await store.audit.append(await draft({ change: 'failure', result: 'failed', exit, serials: [], clientIds: [] }));
      written++;
    } catch {
      // the store itself may be what failed: the command's own error is what the user sees
    }
  };
  const recorder: AuditRecorder = {
    async record(f: AuditFacts) {
      const e = await store.audit.append(await draft({ change: 'other', serials: f.serials ?? [], clientIds: f.clientIds ?? [], ...(f.detail ? { detail: f.detail } : {}) }));
      written++;
      return e;
    },
    get written() {
      return written;
    },
  };
  return { store: { ...store, registry: auditedRegistry, truststore: auditedTruststore, lock: auditedLock }, recorder };
}
