import type { BundleSink, Store, StoreLock } from '../ports.js';

/**
 * Returns `target` with the named methods preceded by `check`; every other member is the target's own
 * (methods bound to it, so adapter state stays in one object).
 */
function guarded<T extends object>(target: T, writes: readonly PropertyKey[], check: () => Promise<void>): T {
  return new Proxy(target, {
    get(t, prop) {
      const value: unknown = Reflect.get(t, prop, t);
      if (typeof value !== 'function') return value;
      if (!writes.includes(prop)) return value.bind(t);
      return async (...args: unknown[]) => {
        await check();
        return value.apply(t, args);
      };
    },
  });
}

/**
 * The store with every write checked against its lock: `registry.commit`, `truststore.sync`, `crls.publish`,
 * `custody.create`, `custody.discard` and `audit.append` first call `lock.assertHeld()`, so a command that lost its lock (another run took it
 * over, its lease could not be renewed) stops before its next write. Reads pass through unchanged.
 * A write added to a port must be added here.
 * @throws CaError conflict, from a guarded write, when the lock was lost
 */
export function guardStore<S extends Store>(store: S): S {
  const check = () => store.lock.assertHeld();
  return {
    ...store,
    registry: guarded(store.registry, ['commit'], check),
    truststore: guarded(store.truststore, ['sync'], check),
    crls: guarded(store.crls, ['publish'], check),
    custody: guarded(store.custody, ['create', 'discard', 'adopt'], check),
    audit: guarded(store.audit, ['append'], check),
  };
}

/**
 * The bundle sink with every delivery checked against the store's lock, like the store's own writes: a
 * command that lost its lock must not overwrite a bundle the run that took it over delivered.
 * @throws CaError conflict, from a delivery, when the lock was lost
 */
export function guardSink(sink: BundleSink, lock: StoreLock): BundleSink {
  const check = () => lock.assertHeld();
  const inner = guarded(sink, ['recover'], check);
  return new Proxy(inner, {
    get(t, prop) {
      if (prop !== 'stage') return Reflect.get(t, prop, t);
      // staging writes the new files, publishing puts them in place: both are writes
      return async (bundles: Parameters<BundleSink['stage']>[0]) => {
        await check();
        const staged = await sink.stage(bundles);
        return { locations: staged.locations, publish: async () => (await check(), staged.publish()) };
      };
    },
  });
}
