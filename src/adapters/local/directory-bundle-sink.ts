import { existsSync, readdirSync, readFileSync, rmdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { BundleDescription, BundleSink, ClientBundle, StagedBundles } from '../../ports.js';
import { CaError, invalidInput, storageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { dirModeFor, moveFileGroupsDurably, writeFileGroupsDurably, type FileGroup, type FlushMode, type MoveGroup } from './files.js';

/** Where bundles wait for the registry: `<root>/.staged/<id>.<serial>/` (a client id never starts with a dot). */
const STAGED = '.staged';
const SERIAL = /^[0-9a-f]{1,40}$/;

/** A bundle's file names, in the order they are put in place: key first (never a new certificate next to an old key), PKCS#12 last. */
const fileNames = (id: string) => [`${id}.key`, 'chain.pem', `${id}.crt`, `${id}.p12`];

/**
 * Writes `<root>/<id>/<id>.crt`, `chain.pem`, and when present `<id>.key` and `<id>.p12` (both 0600, in a
 * 0700 directory). A bundle is first staged in `<root>/.staged/<id>.<serial>/` (0700), durable when `stage`
 * resolves; `publish` renames its files into `<root>/<id>/` (removing a `.p12` it lacks first, renaming its own
 * `.p12` last, so a staged directory that still has files tells `recover` exactly what is left to do).
 */
export class DirectoryBundleSink implements BundleSink {
  readonly kind = 'directory';
  constructor(
    private readonly root: string,
    private readonly o: { flush?: FlushMode } = {},
  ) {}

  private stagedDir(id: string, serial: string): string {
    if (!SERIAL.test(serial)) throw invalidInput(`invalid certificate serial ${JSON.stringify(serial)} for the bundle of ${id}`);
    return join(this.root, STAGED, `${id}.${serial}`);
  }

  async describe(clientIds: string[]): Promise<BundleDescription[]> {
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
      const certificatePem = read(`${id}.crt`);
      const privateKeyPem = pkcs12 ? read(`${id}.key`) : undefined;
      return { clientId: id, pkcs12, ...(certificatePem ? { certificatePem } : {}), ...(privateKeyPem ? { privateKeyPem } : {}) };
    });
  }

  async stage(bundles: ClientBundle[]): Promise<StagedBundles> {
    const groups: FileGroup[] = bundles.map((b) => {
      const id = validateClientId(b.clientId);
      const dir = this.stagedDir(id, b.serial);
      const [key, chain, crt, p12] = fileNames(id).map((n) => join(dir, n));
      const files: FileGroup['files'] = [];
      if (b.privateKeyPem) files.push({ path: key!, data: b.privateKeyPem, mode: 0o600 });
      files.push({ path: chain!, data: b.chainPem, mode: 0o644 }, { path: crt!, data: b.certificatePem, mode: 0o644 });
      if (b.pkcs12) files.push({ path: p12!, data: b.pkcs12, mode: 0o600 });
      return { dir, dirMode: 0o700, files };
    });
    try {
      await writeFileGroupsDurably(
        groups,
        (g, e) => storageError(`failed to write the bundle of ${bundles[groups.indexOf(g)]!.clientId} in ${g.dir}: ${(e as Error).message}`, undefined, e),
        this.o.flush,
        { direct: true },
      );
    } catch (e) {
      for (const g of groups) rmSync(g.dir, { recursive: true, force: true });
      this.removeStagedRoot();
      if (e instanceof CaError) throw e;
      throw storageError(`failed to write bundles in ${this.root}: ${(e as Error).message}`, undefined, e);
    }
    const locations = bundles.map((b) => {
      const dir = join(this.root, b.clientId);
      // certificate, chain, then key and PKCS#12: the order delivery has always reported
      return [`${b.clientId}.crt`, 'chain.pem', ...(b.privateKeyPem ? [`${b.clientId}.key`] : []), ...(b.pkcs12 ? [`${b.clientId}.p12`] : [])].map((n) => join(dir, n));
    });
    const staged = bundles.map((b, i) => ({ id: b.clientId, dir: groups[i]!.dir, names: groups[i]!.files.map((f) => f.path.slice(groups[i]!.dir.length + 1)) }));
    return { locations, publish: () => this.publish(staged) };
  }

  /** Moves staged bundles into place (see the class comment for the order), then removes the staged directories. */
  private async publish(staged: { id: string; dir: string; names: string[] }[]): Promise<void> {
    const groups: MoveGroup[] = staged.map(({ id, dir, names }) => {
      const target = join(this.root, id);
      const p12 = `${id}.p12`;
      const ordered = fileNames(id).filter((n) => names.includes(n));
      return {
        dir: target,
        dirMode: Math.min(...ordered.map((n) => dirModeFor(n === 'chain.pem' || n === `${id}.crt` ? 0o644 : 0o600))),
        remove: names.includes(p12) ? [] : [join(target, p12)],
        files: ordered.map((n) => ({ from: join(dir, n), to: join(target, n) })),
      };
    });
    await moveFileGroupsDurably(
      groups,
      (g, e) =>
        storageError(
          `failed to put the bundle of ${staged[groups.indexOf(g)]!.id} in place in ${g.dir}: ${(e as Error).message}`,
          `its certificate is recorded and its files are staged in ${staged[groups.indexOf(g)]!.dir}: the next issuing command (e.g. \`ca renew <id>\`) puts them in place`,
          e,
        ),
      this.o.flush,
    );
    for (const s of staged) rmSync(s.dir, { recursive: true, force: true });
    this.removeStagedRoot();
  }

  private removeStagedRoot(): void {
    try {
      rmdirSync(join(this.root, STAGED));
    } catch {
      // not empty (another bundle is staged) or already gone
    }
  }

  async recover(recorded: (clientId: string, serial: string) => Promise<boolean>): Promise<{ published: string[]; discarded: string[] }> {
    const root = join(this.root, STAGED);
    let entries: string[];
    try {
      entries = readdirSync(root);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { published: [], discarded: [] };
      throw storageError(`failed to read ${root}: ${(e as Error).message}`, undefined, e);
    }
    const publish: { id: string; dir: string; names: string[] }[] = [];
    const discarded: string[] = [];
    for (const entry of entries.sort()) {
      const dot = entry.lastIndexOf('.');
      const id = entry.slice(0, dot);
      const serial = entry.slice(dot + 1);
      const dir = join(root, entry);
      const names = readdirSync(dir);
      let valid = dot > 0 && SERIAL.test(serial);
      try {
        validateClientId(id);
      } catch {
        valid = false;
      }
      if (!valid || !names.length || !(await recorded(id, serial))) {
        rmSync(dir, { recursive: true, force: true });
        if (names.length) discarded.push(id);
        continue;
      }
      publish.push({ id, dir, names });
    }
    if (publish.length) await this.publish(publish);
    else this.removeStagedRoot();
    return { published: publish.map((p) => p.id), discarded };
  }
}
