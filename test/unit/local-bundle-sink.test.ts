/**
 * DirectoryBundleSink's batch delivery: the same files, modes and order as one by one, in both flush modes,
 * nothing temporary left behind, and a failure that names the client.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { CaError } from '../../src/domain/errors.js';
import type { ClientBundle } from '../../src/ports.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), 'ca-sink-batch-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const bundle = (id: string, n: number, key: boolean): ClientBundle => ({
  clientId: id,
  certificatePem: `-----BEGIN CERTIFICATE-----\ncert ${id} ${n}\n-----END CERTIFICATE-----\n`,
  chainPem: `-----BEGIN CERTIFICATE-----\nchain ${n}\n-----END CERTIFICATE-----\n`,
  ...(key ? { privateKeyPem: `-----BEGIN PRIVATE KEY-----\nkey ${id} ${n}\n-----END PRIVATE KEY-----\n` } : {}),
});

function walk(d: string): string[] {
  return readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(d, e.name)) : [join(d, e.name)]));
}

describe('DirectoryBundleSink.deliverMany', () => {
  // 150 bundles (300-450 files): more than one syncfs batch, so the pipelined path runs
  for (const flush of ['filesystem', 'files'] as const) {
    it(`writes every bundle as deliver would, keys 0600 in 0700 directories (flush: ${flush})`, async () => {
      const root = join(tmp(), 'bundles');
      const sink = new DirectoryBundleSink(root, { flush });
      const bundles = Array.from({ length: 150 }, (_, i) => bundle(`svc-${i}`, 1, i % 2 === 0));
      const delivered = await sink.deliverMany(bundles);
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
      // re-issue over the same directories: overwritten, a key now in a directory made without one narrows it
      const again = bundles.map((b, i) => bundle(b.clientId, 2, i % 2 === 1));
      await sink.deliverMany(again);
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
    const e = await sink.deliverMany(bundles).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CaError);
    expect((e as CaError).code).toBe('storage');
    expect((e as CaError).message).toMatch(/svc-70/);
    expect(walk(root).filter((p) => p.endsWith('.tmp'))).toEqual([]);
  });
});

describe('a re-issue that fails in a batch delivery', () => {
  it('records the chunks delivered before it, none after, and a re-run finishes the rest', async () => {
    const { makeCa, after, DAY, cleanupAll } = await import('../helpers/pki.js');
    const { issueClient, openIssuer, reissueClients } = await import('../../src/domain/issuance.js');
    try {
      const ca = await makeCa();
      const ids = ['r1', 'r2', 'r3', 'r4', 'r5', 'r6', 'r7'];
      for (const id of ids) await issueClient(ca.ctx(after(DAY)), { clientId: id });
      const olds = await ca.store.registry.list({ kind: 'client', status: 'active' });
      const real = new DirectoryBundleSink(ca.bundleDir);
      let calls = 0;
      // the second chunk's delivery fails (a full disk, a crash); the third chunk is being signed meanwhile
      const sink = {
        kind: 'failing',
        preflight: () => real.preflight(),
        deliver: (b: ClientBundle) => real.deliver(b),
        deliverMany: async (bs: ClientBundle[]) => {
          if (++calls === 2) throw new Error('simulated failure');
          return real.deliverMany(bs);
        },
      };
      const ctx = { ...ca.ctx(after(2 * DAY)), sink };
      const sortedOlds = [...olds].sort((a, b) => a.clientId.localeCompare(b.clientId));
      await expect(reissueClients(ctx, await openIssuer(ctx), sortedOlds, { chunkSize: 3 })).rejects.toThrow('simulated failure');
      const active = await ca.store.registry.list({ kind: 'client', status: 'active' });
      const moved = active.filter((r) => !olds.some((o) => o.serial === r.serial)).map((r) => r.clientId).sort();
      expect(moved).toEqual(['r1', 'r2', 'r3']);
      for (const id of moved) expect(ca.bundle(id).cert).toBe(active.find((r) => r.clientId === id)!.certificatePem);
      // the re-run: what is still on its old certificate
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
