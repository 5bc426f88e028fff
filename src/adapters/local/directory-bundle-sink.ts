import { closeSync, existsSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BundleDescription, BundleSink, ClientBundle, StagedBundles } from '../../ports.js';
import { CaError, invalidInput, storageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { dirModeFor, moveFileGroupsDurably, writeFileGroupsDurably, type FileGroup, type FlushMode, type MoveGroup } from './files.js';

/**
 * Where bundles wait for the registry: one flat directory, `<root>/.staged/` (a client id never starts with a
 * dot), each file named `<id>@<serial>@<final name>` (`@` is in neither a client id nor a serial): no directory
 * per bundle to create and remove, which a rotation of thousands of clients would pay for.
 */
const STAGED = '.staged';
const SERIAL = /^[0-9a-f]{1,40}$/;

/** A bundle's file names, in the order they are put in place: key first (never a new certificate next to an old key), PKCS#12 last. */
const fileNames = (id: string) => [`${id}.key`, 'chain.pem', `${id}.crt`, `${id}.p12`];

/** One staged bundle: its client, serial, and the final names of the files staged for it. */
interface StagedBundle {
  id: string;
  serial: string;
  names: string[];
}

/**
 * Writes `<root>/<id>/<id>.crt`, `chain.pem`, and when present `<id>.key` and `<id>.p12` (both 0600, in a
 * 0700 directory). A bundle is first staged in `<root>/.staged/` (0700), durable when `stage` resolves;
 * `publish` renames its files into `<root>/<id>/` (removing a `.p12` it lacks first, renaming its own `.p12`
 * last), so the files still staged for a bundle tell `recover` exactly what is left to do.
 */
export class DirectoryBundleSink implements BundleSink {
  readonly kind = 'directory';
  constructor(
    private readonly root: string,
    private readonly o: { flush?: FlushMode } = {},
  ) {}

  private get stagedRoot(): string {
    return join(this.root, STAGED);
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

  private stagedPath(b: StagedBundle, name: string): string {
    return join(this.stagedRoot, `${b.id}@${b.serial}@${name}`);
  }

  async describe(clientIds: string[], o: { certificate?: boolean } = {}): Promise<BundleDescription[]> {
    return clientIds.map((raw) => {
      const id = validateClientId(raw);
      const dir = join(this.root, id);
      const read = (name: string) => {
        try {
          return readFileSync(join(dir, name), 'utf8');
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
          throw storageError(`failed to read the bundle of ${id} in ${dir}: ${(e as Error).message}`, undefined, e);
        }
      };
      const pkcs12 = existsSync(join(dir, `${id}.p12`));
      const certificatePem = o.certificate ? read(`${id}.crt`) : undefined;
      const privateKeyPem = pkcs12 ? read(`${id}.key`) : undefined;
      return { clientId: id, pkcs12, ...(certificatePem ? { certificatePem } : {}), ...(privateKeyPem ? { privateKeyPem } : {}) };
    });
  }

  async stage(bundles: ClientBundle[]): Promise<StagedBundles> {
    const staged: StagedBundle[] = [];
    const groups: FileGroup[] = bundles.map((b) => {
      const id = validateClientId(b.clientId);
      if (!SERIAL.test(b.serial)) throw invalidInput(`invalid certificate serial ${JSON.stringify(b.serial)} for the bundle of ${id}`);
      const [key, chain, crt, p12] = fileNames(id);
      const content: [string, string | Uint8Array, number][] = [];
      if (b.privateKeyPem) content.push([key!, b.privateKeyPem, 0o600]);
      content.push([chain!, b.chainPem, 0o644], [crt!, b.certificatePem, 0o644]);
      if (b.pkcs12) content.push([p12!, b.pkcs12, 0o600]);
      const s: StagedBundle = { id, serial: b.serial, names: content.map(([n]) => n) };
      staged.push(s);
      return { dir: this.stagedRoot, dirMode: 0o700, files: content.map(([n, data, mode]) => ({ path: this.stagedPath(s, n), data, mode })) };
    });
    try {
      await writeFileGroupsDurably(
        groups,
        (g, e) => storageError(`failed to write the bundle of ${bundles[groups.indexOf(g)]!.clientId} in ${g.dir}: ${(e as Error).message}`, undefined, e),
        this.o.flush,
        { direct: true },
      );
    } catch (e) {
      for (const g of groups) {
        for (const f of g.files) {
          try {
            rmSync(f.path, { force: true });
          } catch {
            // not a file we wrote (something in the way): left as it is
          }
        }
      }
      this.removeStagedRoot();
      if (e instanceof CaError) throw e;
      throw storageError(`failed to write bundles in ${this.root}: ${(e as Error).message}`, undefined, e);
    }
    const locations = staged.map((s) => {
      const dir = join(this.root, s.id);
      // certificate, chain, then key and PKCS#12: the order delivery has always reported
      return [`${s.id}.crt`, 'chain.pem', `${s.id}.key`, `${s.id}.p12`].filter((n) => s.names.includes(n)).map((n) => join(dir, n));
    });
    return { locations, publish: () => this.publish(staged) };
  }

  /** Moves staged bundles into place (see the class comment for the order). */
  private async publish(staged: StagedBundle[]): Promise<void> {
    const groups: MoveGroup[] = staged.map((s) => {
      const target = join(this.root, s.id);
      const p12 = `${s.id}.p12`;
      const ordered = fileNames(s.id).filter((n) => s.names.includes(n));
      return {
        dir: target,
        dirMode: Math.min(...ordered.map((n) => dirModeFor(n === 'chain.pem' || n === `${s.id}.crt` ? 0o644 : 0o600))),
        remove: s.names.includes(p12) ? [] : [join(target, p12)],
        files: ordered.map((n) => ({ from: this.stagedPath(s, n), to: join(target, n) })),
      };
    });
    await moveFileGroupsDurably(
      groups,
      (g, e) =>
        storageError(
          `failed to put the bundle of ${staged[groups.indexOf(g)]!.id} in place in ${g.dir}: ${(e as Error).message}`,
          `its certificate is recorded and its files are staged in ${this.stagedRoot}: the next issuing command (e.g. \`ca renew <id>\`) puts them in place`,
          e,
        ),
      this.o.flush,
    );
    this.removeStagedRoot();
  }

  private removeStagedRoot(): void {
    try {
      rmdirSync(this.stagedRoot);
    } catch {
      // not empty (another bundle is staged) or already gone
    }
  }

  async recover(recorded: (clientId: string, serial: string) => Promise<boolean>): Promise<{ published: string[]; discarded: string[] }> {
    let entries: string[];
    try {
      entries = readdirSync(this.stagedRoot);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { published: [], discarded: [] };
      throw storageError(`failed to read ${this.stagedRoot}: ${(e as Error).message}`, undefined, e);
    }
    const byBundle = new Map<string, StagedBundle>();
    const stray: string[] = [];
    for (const entry of entries.sort()) {
      const [id, serial, name, ...rest] = entry.split('@');
      let valid = rest.length === 0 && SERIAL.test(serial ?? '') && fileNames(id ?? '').includes(name ?? '');
      try {
        validateClientId(id);
      } catch {
        valid = false;
      }
      if (!valid) {
        stray.push(entry);
        continue;
      }
      const key = `${id}@${serial}`;
      const b = byBundle.get(key) ?? { id: id!, serial: serial!, names: [] };
      byBundle.set(key, b);
      b.names.push(name!);
    }
    // what no bundle of ours would stage (a half-written temporary name, something put there by hand)
    for (const entry of stray) rmSync(join(this.stagedRoot, entry), { recursive: true, force: true });
    const publish: StagedBundle[] = [];
    const discarded: string[] = [];
    for (const b of byBundle.values()) {
      if (await recorded(b.id, b.serial)) publish.push(b);
      else {
        for (const n of b.names) rmSync(this.stagedPath(b, n), { force: true });
        discarded.push(b.id);
      }
    }
    if (publish.length) await this.publish(publish);
    else this.removeStagedRoot();
    return { published: publish.map((p) => p.id), discarded };
  }
}
