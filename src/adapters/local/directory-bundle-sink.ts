import { closeSync, existsSync, lstatSync, mkdirSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BundleDescription, BundleSink, ClientBundle, StagedBundles } from '../../ports.js';
import { CaError, invalidInput, storageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { changedByMkdir, dirModeFor, fsyncDir, moveFileGroupsDurably, writeFileGroupsDurably, type FileGroup, type FlushMode, type MoveGroup } from './files.js';

/**
 * Where bundles wait for the registry: `<root>/.staged/` (a client id never starts with a dot), one directory
 * per bundle, `<id>@<serial>/` (`@` is in neither a client id nor a serial), holding its files under their
 * final names and with the mode its bundle directory gets. A new client's bundle is then put in place with one
 * rename of that directory (`--from` with 10,000 new clients: 10,000 renames instead of 30,000, and no
 * directory to create in place); a re-issue into an existing directory moves the files one by one. Files named
 * `<id>@<serial>@<final name>` directly in `.staged/`, the layout of earlier versions, are still recovered.
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
  /** staged by an earlier version: flat files in `.staged/` */
  legacy?: boolean;
}

/** The mode of a bundle's directory: private when it holds a key or a PKCS#12. */
const bundleDirMode = (id: string, names: string[]) => Math.min(...names.map((n) => dirModeFor(n === 'chain.pem' || n === `${id}.crt` ? 0o644 : 0o600)));

/**
 * Writes `<root>/<id>/<id>.crt`, `chain.pem`, and when present `<id>.key` and `<id>.p12` (both 0600, in a
 * 0700 directory). A bundle is first staged in `<root>/.staged/` (0700), durable when `stage` resolves;
 * `publish` renames its files into `<root>/<id>/` (removing a `.p12` it lacks first, renaming its own `.p12`
 * last), so the files still staged for a bundle tell `recover` exactly what is left to do.
 */
export class DirectoryBundleSink implements BundleSink {
  readonly kind = 'directory';
  private readonly root: string;
  private readonly stagedRoot: string;

  constructor(
    root: string,
    private readonly o: { flush?: FlushMode } = {},
  ) {
    // normalised once: the paths of thousands of files are then built by concatenation (path.join costs more
    // than the rest of staging's own work), which is exact for a validated client id (no separator, no dot first)
    let r = join(root);
    while (r.length > 1 && r.endsWith(sep)) r = r.slice(0, -1);
    this.root = r;
    this.prefix = r.endsWith(sep) ? r : r + sep;
    this.stagedRoot = this.prefix + STAGED;
  }

  /** `<root>/`, to which a client id is appended */
  private readonly prefix: string;

  /** `<root>/<id>`, or `<root>/<id>/<name>` */
  private inRoot(id: string, name?: string): string {
    return name === undefined ? this.prefix + id : this.prefix + id + sep + name;
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

  private stagedDir(b: StagedBundle): string {
    return `${this.stagedRoot}${sep}${b.id}@${b.serial}`;
  }

  private stagedPath(b: StagedBundle, name: string): string {
    return b.legacy ? `${this.stagedRoot}${sep}${b.id}@${b.serial}@${name}` : `${this.stagedDir(b)}${sep}${name}`;
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
      return { dir: this.stagedDir(s), dirMode: bundleDirMode(id, s.names), files: content.map(([n, data, mode]) => ({ path: this.stagedPath(s, n), data, mode })) };
    });
    try {
      // `.staged/` itself is private whatever the bundles are (a bundle directory without a key is 0755)
      const made = mkdirSync(this.stagedRoot, { recursive: true, mode: 0o700 });
      for (const d of changedByMkdir(this.stagedRoot, made)) fsyncDir(d);
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
        try {
          rmdirSync(g.dir);
        } catch {
          // never made, or something in the way is still in it
        }
      }
      this.removeStagedRoot();
      if (e instanceof CaError) throw e;
      throw storageError(`failed to write bundles in ${this.root}: ${(e as Error).message}`, undefined, e);
    }
    const locations = staged.map((s) => {
      // certificate, chain, then key and PKCS#12: the order delivery has always reported
      return [`${s.id}.crt`, 'chain.pem', `${s.id}.key`, `${s.id}.p12`].filter((n) => s.names.includes(n)).map((n) => this.inRoot(s.id, n));
    });
    return { locations, publish: () => this.publish(staged) };
  }

  /** Moves staged bundles into place (see the class comment for the order). */
  private async publish(staged: StagedBundle[]): Promise<void> {
    const groups: MoveGroup[] = staged.map((s) => {
      const p12 = `${s.id}.p12`;
      const ordered = fileNames(s.id).filter((n) => s.names.includes(n));
      return {
        dir: this.inRoot(s.id),
        dirMode: bundleDirMode(s.id, ordered),
        remove: s.names.includes(p12) ? [] : [this.inRoot(s.id, p12)],
        files: ordered.map((n) => ({ from: this.stagedPath(s, n), to: this.inRoot(s.id, n) })),
        ...(s.legacy ? {} : { whole: this.stagedDir(s) }),
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
    const validKey = (id: string | undefined, serial: string | undefined) => {
      if (!SERIAL.test(serial ?? '')) return false;
      try {
        validateClientId(id);
        return true;
      } catch {
        return false;
      }
    };
    for (const entry of entries.sort()) {
      const path = join(this.stagedRoot, entry);
      const [id, serial, name, ...rest] = entry.split('@');
      let isDir: boolean;
      try {
        isDir = lstatSync(path).isDirectory();
      } catch (e) {
        throw storageError(`failed to read ${path}: ${(e as Error).message}`, undefined, e);
      }
      if (isDir && name === undefined && validKey(id, serial)) {
        const names: string[] = [];
        for (const n of readdirSync(path)) {
          // only a bundle's own names; anything else (a half-written temporary name, something put there by hand) goes
          if (fileNames(id!).includes(n) && lstatSync(join(path, n)).isFile()) names.push(n);
          else rmSync(join(path, n), { recursive: true, force: true });
        }
        // made, then killed before its first file: nothing to settle
        if (!names.length) rmdirSync(path);
        else byBundle.set(entry, { id: id!, serial: serial!, names });
        continue;
      }
      if (!isDir && rest.length === 0 && name !== undefined && fileNames(id ?? '').includes(name) && validKey(id, serial)) {
        const key = `${id}@${serial}@`;
        const b = byBundle.get(key) ?? { id: id!, serial: serial!, names: [], legacy: true };
        byBundle.set(key, b);
        b.names.push(name);
        continue;
      }
      stray.push(entry);
    }
    // what no bundle of ours would stage (a half-written temporary name, something put there by hand)
    for (const entry of stray) rmSync(join(this.stagedRoot, entry), { recursive: true, force: true });
    const publish: StagedBundle[] = [];
    const discarded: string[] = [];
    for (const b of byBundle.values()) {
      if (await recorded(b.id, b.serial)) publish.push(b);
      else {
        if (b.legacy) for (const n of b.names) rmSync(this.stagedPath(b, n), { force: true });
        else rmSync(this.stagedDir(b), { recursive: true, force: true });
        discarded.push(b.id);
      }
    }
    if (publish.length) await this.publish(publish);
    else this.removeStagedRoot();
    return { published: publish.map((p) => p.id), discarded };
  }
}
