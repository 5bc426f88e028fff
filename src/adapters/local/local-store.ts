import { hostname, userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { AuditLog, Store } from '../../ports.js';
import { guardStore } from '../../domain/guarded-store.js';
import { FileKeyCustody, type PassphraseSource } from './file-key-custody.js';
import { FileCrls } from './file-crls.js';
import { FileTruststore } from './file-truststore.js';
import { JsonFileRegistry } from './json-registry.js';
import { LockFile } from './lock-file.js';
import { sweepTemporaryFiles } from './files.js';

export interface LocalStoreOptions {
  dir: string;
  passphrase: PassphraseSource;
  /** write CA keys unencrypted (explicitly insecure) */
  plaintextKeys?: boolean;
}

/** The embedded default: everything in one directory. Every write first checks that the lock is still held. */
export function createLocalStore(o: LocalStoreOptions): Store & { dir: string; truststorePath: string } {
  const dir = resolve(o.dir);
  const truststore = new FileTruststore(dir);
  const registry = new JsonFileRegistry(dir);
  const crls = new FileCrls(dir);
  return guardStore({
    name: 'local',
    dir,
    truststorePath: truststore.path,
    custody: new FileKeyCustody(dir, o.passphrase, { plaintext: o.plaintextKeys }),
    registry,
    truststore,
    crls,
    audit: localAuditLog(registry),
    // a command's commits are journal lines; at its end registry.json alone holds them again, and what a killed
    // command left half-written (temporary files) is removed
    lock: new LockFile(dir, {
      beforeRelease: () => {
        registry.compact();
        sweepTemporaryFiles([dir, join(dir, 'keys'), join(dir, 'truststore-versions'), crls.dir]);
      },
    }),
    describe: () => `local directory ${o.dir}`,
  });
}

/** The local store's audit trail: audit.jsonl beside the registry, fed from the registry's journal (json-registry.ts). */
function localAuditLog(registry: JsonFileRegistry): AuditLog {
  return {
    read: () => registry.auditEvents(),
    head: () => registry.auditHead(),
    lastTruststoreVersion: async () => [...(await registry.auditEvents())].reverse().find((e) => e.change === 'truststore')?.truststoreVersion,
    append: (draft) => registry.appendAudit(draft),
    actor: async () => localActor(),
  };
}

/** The operating-system user and host: who acts on a local store. */
export function localActor(): string {
  let user: string;
  try {
    user = userInfo().username;
  } catch {
    // a uid with no passwd entry (a container's arbitrary uid)
    user = `uid:${process.getuid?.() ?? 'unknown'}`;
  }
  return `${user}@${hostname()}`;
}
