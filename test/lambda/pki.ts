import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalStore } from '../../src/adapters/local/local-store.js';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { fixedClock, type OperationContext } from '../../src/domain/context.js';
import { bootstrap } from '../../src/domain/hierarchy.js';
import { issueClient } from '../../src/domain/issuance.js';
import { DEFAULT_POLICY, type CaPolicy } from '../../src/domain/policy.js';
import type { CertificateRecord } from '../../src/ports.js';

/** A real CA in a temporary local store, with helpers to issue clients at a chosen time. */
export interface TestPki {
  dir: string;
  store: ReturnType<typeof createLocalStore>;
  ctx(at?: Date | string): OperationContext;
  issue(clientId: string, o?: { replace?: boolean; at?: Date | string }): Promise<{ record: CertificateRecord; certPath: string; keyPath: string; chainPath: string }>;
  truststorePem(): string;
  cleanup(): void;
}

/** Whole seconds, so certificate and record times compare exactly. */
export const T0 = new Date(Math.floor(Date.now() / 1000) * 1000);
export const DAY = 24 * 60 * 60 * 1000;
export const at = (ms: number) => new Date(T0.getTime() + ms);

export async function makePki(o: { policy?: Partial<CaPolicy>; name?: string } = {}): Promise<TestPki> {
  const dir = mkdtempSync(join(tmpdir(), `${o.name ?? 'ca-lambda'}-`));
  const store = createLocalStore({ dir: join(dir, 'store'), passphrase: async () => 'test-passphrase-123' });
  const sink = new DirectoryBundleSink(join(dir, 'out'));
  const policy: CaPolicy = { ...DEFAULT_POLICY, ...o.policy };
  const ctx = (when: Date | string = T0): OperationContext => ({ store, clock: fixedClock(when), policy, sink });
  await bootstrap(ctx());
  return {
    dir,
    store,
    ctx,
    async issue(clientId, io = {}) {
      const r = await issueClient(ctx(io.at), { clientId, replace: io.replace });
      const [certPath, chainPath, keyPath] = [`${clientId}.crt`, 'chain.pem', `${clientId}.key`].map((f) => join(dir, 'out', clientId, f)) as [string, string, string];
      return { record: r.record!, certPath, keyPath, chainPath };
    },
    truststorePem: () => readFileSync(store.truststorePath, 'utf8'),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}
