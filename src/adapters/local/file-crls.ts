import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CrlPublisher } from '../../ports.js';
import { crlPem } from '../../domain/crl.js';
import { storageError } from '../../domain/errors.js';
import { writeFileAtomic } from './files.js';

/**
 * CRLs beside the truststore: `<dir>/crl/<name>.crl` (DER, what an HTTP distribution point serves, RFC 5280
 * 4.2.1.13) and `<dir>/crl/<name>.crl.pem` (PEM, for nginx, Envoy and an ALB trust store). Each file is replaced
 * whole (written aside, then renamed), so a crash leaves the previous copy or the new one, never half of one.
 */
export class FileCrls implements CrlPublisher {
  readonly dir: string;

  constructor(storeDir: string) {
    this.dir = join(storeDir, 'crl');
  }

  locations(name: string): string[] {
    return [join(this.dir, `${name}.crl`), join(this.dir, `${name}.crl.pem`)];
  }

  async current(name: string): Promise<Uint8Array | undefined> {
    try {
      return readFileSync(this.locations(name)[0]!);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw storageError(`failed to read ${this.locations(name)[0]}: ${(e as Error).message}`, undefined, e);
    }
  }

  async publish(name: string, der: Uint8Array): Promise<string[]> {
    const [derPath, pemPath] = this.locations(name) as [string, string];
    for (const [path, data] of [[derPath, der], [pemPath, crlPem(der)]] as const) {
      try {
        writeFileAtomic(path, data);
      } catch (e) {
        throw storageError(`failed to write ${path}: ${(e as Error).message}`, 'check that the store directory is writable, then run `ca crl`', e);
      }
    }
    return [derPath, pemPath];
  }
}
