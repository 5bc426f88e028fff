import { join, resolve } from 'node:path';
import type { Store } from '../../ports.js';
import { guardStore } from '../../domain/guarded-store.js';
import { FileKeyCustody, type PassphraseSource } from './file-key-custody.js';
import { FileTruststore } from './file-truststore.js';
import { JsonFileRegistry } from './json-registry.js';
import { LocalRegistryArchive } from './registry-archive.js';
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
  return guardStore({
    name: 'local',
    dir,
    truststorePath: truststore.path,
    custody: new FileKeyCustody(dir, o.passphrase, { plaintext: o.plaintextKeys }),
    registry,
    truststore,
    archive: new LocalRegistryArchive(dir, registry),
    // a command's commits are journal lines; at its end registry.json alone holds them again, and what a killed
    // command left half-written (temporary files) is removed
    lock: new LockFile(dir, {
      beforeRelease: () => {
        registry.compact();
        sweepTemporaryFiles([dir, join(dir, 'keys'), join(dir, 'truststore-versions')]);
      },
    }),
    describe: () => `local directory ${o.dir}`,
  });
}
