import { join } from 'node:path';
import type { BundleSink, ClientBundle } from '../../ports.js';
import { CaError, storageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { dirModeFor, writeFileGroupsDurably, type FileGroup, type FlushMode } from './files.js';

/**
 * Writes `<root>/<id>/<id>.crt`, `chain.pem`, and when present `<id>.key` and `<id>.p12` (both 0600, in a
 * 0700 directory). Every file is on disk (content and directory entry) when `deliver` or `deliverMany`
 * resolves: the caller records the certificate next, and a recorded certificate whose bundle a crash lost
 * would never be delivered again.
 */
export class DirectoryBundleSink implements BundleSink {
  readonly kind = 'directory';
  constructor(
    private readonly root: string,
    private readonly o: { flush?: FlushMode } = {},
  ) {}

  private group(b: ClientBundle): FileGroup {
    const dir = join(this.root, validateClientId(b.clientId));
    // key first: a crash never leaves a new certificate next to an old key
    const files: FileGroup['files'] = [];
    if (b.pkcs12) files.push({ path: join(dir, `${b.clientId}.p12`), data: b.pkcs12, mode: 0o600 });
    if (b.privateKeyPem) files.push({ path: join(dir, `${b.clientId}.key`), data: b.privateKeyPem, mode: 0o600 });
    files.push({ path: join(dir, 'chain.pem'), data: b.chainPem, mode: 0o644 }, { path: join(dir, `${b.clientId}.crt`), data: b.certificatePem, mode: 0o644 });
    return { dir, dirMode: Math.min(...files.map((f) => dirModeFor(f.mode))), files };
  }

  async deliver(b: ClientBundle): Promise<string[]> {
    return (await this.deliverMany([b]))[0]!;
  }

  /** All bundles' files written, made durable together, renamed into place, and the renames made durable (see writeFileGroupsDurably). */
  async deliverMany(bundles: ClientBundle[]): Promise<string[][]> {
    const groups = bundles.map((b) => this.group(b));
    try {
      await writeFileGroupsDurably(
        groups,
        (g, e) => {
          const id = bundles[groups.indexOf(g)]!.clientId;
          return storageError(`failed to write bundle for ${id} in ${g.dir}: ${(e as Error).message}`, undefined, e);
        },
        this.o.flush,
      );
    } catch (e) {
      if (e instanceof CaError) throw e;
      throw storageError(`failed to write bundles in ${this.root}: ${(e as Error).message}`, undefined, e);
    }
    // certificate, chain, then key and PKCS#12: the order deliver has always reported
    return groups.map((g) => g.files.map((f) => f.path).reverse());
  }
}
