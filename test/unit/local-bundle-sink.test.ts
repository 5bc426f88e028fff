/**
 * DirectoryBundleSink's batch delivery (stage, then publish): the same files, modes and order as one by one, in
 * both flush modes, nothing temporary or staged left behind, a failure that names the client, and a publication
 * a crash interrupted completed by `recover`.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { CaError } from '../../src/domain/errors.js';
import type { BundleSink, ClientBundle } from '../../src/ports.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ca-sink-batch-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const bundle = (id: string, n: number, key: boolean): ClientBundle => ({
  clientId: id,
  serial: (0x100 + n).toString(16),
  certificatePem: `-----BEGIN CERTIFICATE-----\ncert ${id} ${n}\n-----END CERTIFICATE-----\n`,
  chainPem: `-----BEGIN CERTIFICATE-----\nchain ${n}\n-----END CERTIFICATE-----\n`,
  ...(key ? { privateKeyPem: `-----BEGIN PRIVATE KEY-----\nkey ${id} ${n}\n-----END PRIVATE KEY-----\n` } : {}),
});

async function deliver(sink: BundleSink, bundles: ClientBundle[]): Promise<string[][]> {
  const staged = await sink.stage(bundles);
  await staged.publish();
  return staged.locations;
}

function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
}

describe('DirectoryBundleSink stage and publish', () => {
  // 150 bundles (300-450 files): more than one syncfs batch, so the pipelined path runs
  for (const flush of ['filesystem', 'files'] as const) {
    it(`writes every bundle as deliver would, keys 0600 in 0700 directories (flush: ${flush})`, async () => {
      const root = join(tmp(), 'bundles');
      const sink = new DirectoryBundleSink(root, { flush });
      const bundles = Array.from({ length: 150 }, (_, i) => bundle(`svc-${i}`, 1, i % 2 === 0));
      const delivered = await deliver(sink, bundles);
      expect(delivered).toHaveLength(150);
      for (const [i, b] of bundles.entries()) {
        const d = join(root, b.clientId);
        expect(delivered[i]).toEqual([join(d, `${b.clientId}.crt`), join(d, 'chain.pem'), ...(b.privateKeyPem ? [join(d, `${b.clientId}.key`)] : [])]);
        expect(readFileSync(join(d, `${b.clientId}.crt`), 'utf8')).toBe(b.certificatePem);
        expect(readFileSync(join(d, 'chain.pem'), 'utf8')).toBe(b.chainPem);
        if (b.privateKeyPem) {
          expect(readFileSync(join(d, `${b.clientId}.key`), 'utf8')).toBe(b.privateKeyPem);
          expect(statSync(join(d, `${b.clientId}.key`)).mode & 0o777).toBe(0o600);
          expect(statSync(d).mode & 0o777).toBe(0o700);
        }
      }
      expect(walk(root).filter((p) => p.endsWith('.tmp'))).toEqual([]);
      expect(existsSync(join(root, '.staged')), 'nothing left staged').toBe(false);
      // re-issue over the same directories: overwritten, a key now in a directory made without one narrows it
      const again = bundles.map((b, i) => bundle(b.clientId, 2, i % 2 === 1));
      await deliver(sink, again);
      for (const b of again) {
        expect(readFileSync(join(root, b.clientId, `${b.clientId}.crt`), 'utf8')).toBe(b.certificatePem);
        if (b.privateKeyPem) expect(statSync(join(root, b.clientId)).mode & 0o777).toBe(0o700);
      }
      expect(walk(root).filter((p) => p.endsWith('.tmp'))).toEqual([]);
    });
  }

  it('a file that cannot be written fails the batch with the client named, leaving no temporary files', async () => {
    const root = tmp();
    const sink = new DirectoryBundleSink(root);
    const bundles = Array.from({ length: 100 }, (_, i) => bundle(`svc-${i}`, 1, false));
    // a directory where svc-70's certificate goes: the rename into place fails
    mkdirSync(join(root, 'svc-70', 'svc-70.crt', 'in-the-way'), { recursive: true });
    const e = await deliver(sink, bundles).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CaError);
    expect((e as CaError).code).toBe('storage');
    expect((e as CaError).message).toMatch(/svc-70/);
    expect(walk(root).filter((p) => p.endsWith('.tmp'))).toEqual([]);
  });

  it('a stage that fails removes what it wrote and leaves the current bundles as they were', async () => {
    const root = tmp();
    const sink = new DirectoryBundleSink(root);
    await deliver(sink, [bundle('svc-1', 1, true)]);
    // the staging area cannot take svc-2's key (a directory is in the way)
    const svc2 = `svc-2@${bundle('svc-2', 2, true).serial}`;
    mkdirSync(join(root, '.staged', svc2, 'svc-2.key'), { recursive: true });
    const e = await sink.stage([bundle('svc-1', 2, true), bundle('svc-2', 2, true)]).catch((x: unknown) => x);
    expect((e as CaError).code).toBe('storage');
    expect(readdirSync(join(root, '.staged')), 'only what was in the way stays').toEqual([svc2]);
    expect(readdirSync(join(root, '.staged', svc2))).toEqual(['svc-2.key']);
    expect(readFileSync(join(root, 'svc-1', 'svc-1.crt'), 'utf8')).toBe(bundle('svc-1', 1, true).certificatePem);
  });

  it('staged keys are 0600 in 0700 directories, beside the current bundle', async () => {
    const root = tmp();
    const sink = new DirectoryBundleSink(root);
    const b = bundle('svc-k', 1, true);
    await sink.stage([b]);
    const staged = join(root, '.staged');
    const dir = join(staged, `svc-k@${b.serial}`);
    expect(statSync(staged).mode & 0o777).toBe(0o700);
    expect(readdirSync(staged)).toEqual([`svc-k@${b.serial}`]);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(readdirSync(dir).sort()).toEqual(['chain.pem', 'svc-k.crt', 'svc-k.key']);
    expect(statSync(join(dir, 'svc-k.key')).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(dir, 'svc-k.key'), 'utf8')).toBe(b.privateKeyPem);
    expect(existsSync(join(root, 'svc-k')), 'nothing in place before publish').toBe(false);
  });

  it('a publication a crash interrupted is completed by recover, the removed .p12 staying removed', async () => {
    const root = tmp();
    const sink = new DirectoryBundleSink(root);
    const old = { ...bundle('svc-c', 1, true), pkcs12: Buffer.from('old p12') };
    await deliver(sink, [old]);
    const next = bundle('svc-c', 2, true);
    await sink.stage([next]);
    // the crash came after the old .p12 was removed and the key renamed into place (the order publish takes)
    rmSync(join(root, 'svc-c', 'svc-c.p12'));
    renameSync(join(root, '.staged', `svc-c@${next.serial}`, 'svc-c.key'), join(root, 'svc-c', 'svc-c.key'));
    const r = await sink.recover(async (id, serial) => id === 'svc-c' && serial === next.serial);
    expect(r).toEqual({ published: ['svc-c'], discarded: [] });
    expect(readFileSync(join(root, 'svc-c', 'svc-c.crt'), 'utf8')).toBe(next.certificatePem);
    expect(readFileSync(join(root, 'svc-c', 'chain.pem'), 'utf8')).toBe(next.chainPem);
    expect(readFileSync(join(root, 'svc-c', 'svc-c.key'), 'utf8')).toBe(next.privateKeyPem);
    expect(existsSync(join(root, 'svc-c', 'svc-c.p12'))).toBe(false);
    expect(existsSync(join(root, '.staged'))).toBe(false);
  });
});

describe('DirectoryBundleSink staging directories', () => {
  it("a new client's bundle is put in place by renaming its staged directory, mode and files as staged", async () => {
    const root = join(tmp(), 'bundles');
    const sink = new DirectoryBundleSink(root);
    const withKey = bundle('svc-new', 1, true);
    const noKey = bundle('svc-pub', 2, false);
    const staged = await sink.stage([withKey, noKey]);
    const before = [withKey, noKey].map((b) => statSync(join(root, '.staged', `${b.clientId}@${b.serial}`)).ino);
    await staged.publish();
    // the same directory (inode), now under its final name: one rename, nothing created in place
    expect([withKey, noKey].map((b) => statSync(join(root, b.clientId)).ino)).toEqual(before);
    expect(statSync(join(root, 'svc-new')).mode & 0o777).toBe(0o700);
    expect(statSync(join(root, 'svc-pub')).mode & 0o777).toBe(0o755);
    expect(statSync(join(root, 'svc-new', 'svc-new.key')).mode & 0o777).toBe(0o600);
    expect(readdirSync(join(root, 'svc-pub')).sort()).toEqual(['chain.pem', 'svc-pub.crt']);
    expect(existsSync(join(root, '.staged'))).toBe(false);
  });

  it('recover settles what a kill during staging left: an empty or partial directory of an unrecorded bundle goes, strays inside a recorded one go', async () => {
    const root = tmp();
    const sink = new DirectoryBundleSink(root);
    const a = bundle('svc-a', 1, true);
    const b = bundle('svc-b', 2, true);
    await sink.stage([a, b]);
    // killed before svc-e's first file, and while writing a temporary file inside svc-a's directory
    mkdirSync(join(root, '.staged', 'svc-e@1ff'));
    mkdirSync(join(root, '.staged', `svc-a@${a.serial}`, 'junk'));
    const r = await sink.recover(async (id, serial) => id === 'svc-a' && serial === a.serial);
    expect(r).toEqual({ published: ['svc-a'], discarded: ['svc-b'] });
    expect(readdirSync(join(root, 'svc-a')).sort()).toEqual(['chain.pem', 'svc-a.crt', 'svc-a.key']);
    expect(existsSync(join(root, 'svc-b'))).toBe(false);
    expect(existsSync(join(root, '.staged'))).toBe(false);
  });

  it('recover still publishes bundles staged as flat files by earlier versions (`.staged/<id>@<serial>@<name>`)', async () => {
    const { writeFileSync } = await import('node:fs');
    const root = tmp();
    const sink = new DirectoryBundleSink(root);
    await deliver(sink, [bundle('svc-old', 1, true)]);
    const next = bundle('svc-old', 2, true);
    mkdirSync(join(root, '.staged'), { mode: 0o700 });
    writeFileSync(join(root, '.staged', `svc-old@${next.serial}@svc-old.crt`), next.certificatePem);
    writeFileSync(join(root, '.staged', `svc-old@${next.serial}@chain.pem`), next.chainPem);
    writeFileSync(join(root, '.staged', `svc-old@${next.serial}@svc-old.key`), next.privateKeyPem!, { mode: 0o600 });
    writeFileSync(join(root, '.staged', `svc-gone@1aa@svc-gone.crt`), 'unrecorded');
    const r = await sink.recover(async (id, serial) => id === 'svc-old' && serial === next.serial);
    expect(r).toEqual({ published: ['svc-old'], discarded: ['svc-gone'] });
    expect(readFileSync(join(root, 'svc-old', 'svc-old.crt'), 'utf8')).toBe(next.certificatePem);
    expect(readFileSync(join(root, 'svc-old', 'svc-old.key'), 'utf8')).toBe(next.privateKeyPem);
    expect(existsSync(join(root, '.staged'))).toBe(false);
  });
});

describe('a re-issue that fails in a batch delivery', () => {
  it('records the chunks delivered before it, none after, and a re-run finishes the rest', async () => {
    const { makeCa, after, DAY, cleanupAll, FlakySink } = await import('../helpers/pki.js');
    const { issueClient, openIssuer, reissueClients } = await import('../../src/domain/issuance.js');
    try {
      const ca = await makeCa();
      const ids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
      for (const id of ids) await issueClient(ca.ctx(after(DAY)), { clientId: id });
      const olds = await ca.store.registry.list({ kind: 'client', status: 'active' });
      // the second chunk's staging fails (a full disk, a crash); the third chunk is being signed meanwhile
      const sink = new FlakySink(new DirectoryBundleSink(ca.bundleDir));
      sink.failAfter = 5;
      const ctx = { ...ca.ctx(after(2 * DAY)), sink };
      const sortedOlds = [...olds].sort((a, b) => a.clientId.localeCompare(b.clientId));
      await expect(reissueClients(ctx, await openIssuer(ctx), sortedOlds, { chunkSize: 3 })).rejects.toThrow('simulated crash');
      const active = await ca.store.registry.list({ kind: 'client', status: 'active' });
      const moved = active.filter((r) => !olds.some((o) => o.serial === r.serial)).map((r) => r.clientId).sort();
      expect(moved).toEqual(['r1', 'r2', 'r3']);
      for (const r of active) expect(ca.bundle(r.clientId).cert, `bundle of ${r.clientId}`).toBe(r.certificatePem);
      // the re-run: what is still on its old certificate
      sink.failAfter = Infinity;
      const rest = active.filter((r) => olds.some((o) => o.serial === r.serial)).sort((a, b) => a.clientId.localeCompare(b.clientId));
      const done = await reissueClients(ctx, await openIssuer(ctx), rest, { chunkSize: 3 });
      expect(done.map((d) => d.clientId)).toEqual(['r4', 'r5', 'r6', 'r7']);
      const final = await ca.store.registry.list({ kind: 'client', status: 'active' });
      expect(final).toHaveLength(7);
      for (const r of final) expect(ca.bundle(r.clientId).cert).toBe(r.certificatePem);
    } finally {
      cleanupAll();
    }
  });
});
