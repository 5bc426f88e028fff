import { closeSync, existsSync, openSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
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

  /**
   * Creates and removes a probe file (with a few KB in it, about one bundle's size) in the bundle directory,
   * or, when it does not exist yet, in the nearest existing directory above it, where it would be created:
   * a read-only, full or missing destination is refused before the command writes anything, and nothing is
   * left behind either way. Per-client directories are not probed (there can be thousands).
   */
  async preflight(): Promise<void> {
    let dir = this.root;
    while (!existsSync(dir) && dirname(dir) !== dir) dir = dirname(dir);
    const probe = join(dir, `.ca-preflight-${randomBytes(6).toString('hex')}.tmp`);
    let fd: number | undefined;
    try {
      if (!statSync(dir).isDirectory()) throw new Error(`${dir} is not a directory`);
      fd = openSync(probe, 'wx', 0o600);
      writeSync(fd, Buffer.alloc(4096));
    } catch (e) {
      throw storageError(`cannot write bundles to ${this.root}: ${(e as Error).message}`, 'choose a writable directory with --out, or make this one writable', e);
    } finally {
      if (fd !== undefined) {
        closeSync(fd);
        rmSync(probe, { force: true });
      }
    }
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
