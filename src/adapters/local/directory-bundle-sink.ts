import { join } from 'node:path';
import type { BundleSink, ClientBundle } from '../../ports.js';
import { storageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { writeFileAtomic } from './files.js';

/** Writes `<root>/<id>/<id>.crt`, `chain.pem`, and when present `<id>.key` and `<id>.p12` (both 0600). */
export class DirectoryBundleSink implements BundleSink {
  readonly kind = 'directory';
  constructor(private readonly root: string) {}

  async deliver(b: ClientBundle): Promise<string[]> {
    const dir = join(this.root, validateClientId(b.clientId));
    const files: [string, string | Uint8Array, number][] = [
      [join(dir, `${b.clientId}.crt`), b.certificatePem, 0o644],
      [join(dir, 'chain.pem'), b.chainPem, 0o644],
    ];
    if (b.privateKeyPem) files.push([join(dir, `${b.clientId}.key`), b.privateKeyPem, 0o600]);
    if (b.pkcs12) files.push([join(dir, `${b.clientId}.p12`), b.pkcs12, 0o600]);
    try {
      // key first: a crash never leaves a new certificate next to an old key
      for (const [p, d, m] of files.reverse()) writeFileAtomic(p, d, m);
    } catch (e) {
      throw storageError(`failed to write bundle for ${b.clientId} in ${dir}: ${(e as Error).message}`, undefined, e);
    }
    return files.map(([p]) => p).reverse();
  }
}
