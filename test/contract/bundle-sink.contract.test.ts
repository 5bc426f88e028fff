import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeleteParametersCommand, GetParameterCommand, GetParametersByPathCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { SsmBundleSink } from '../../src/adapters/aws/ssm-bundle-sink.js';
import { CaError } from '../../src/domain/errors.js';
import type { BundleSink, ClientBundle } from '../../src/ports.js';
import { unique, useMoto } from '../aws/moto-env.js';

interface SinkFixture {
  sink: BundleSink;
  /** the content at a location `stage` returned, or undefined when there is nothing there */
  read: (location: string) => Promise<string | undefined>;
  /** everything the sink's destination holds (file or parameter names) */
  contents: () => Promise<string[]>;
}

const serialOf = (n: number) => (0x1000 + n).toString(16);

const bundle = (n: number, key = true, id = 'svc-a'): ClientBundle => ({
  clientId: id,
  serial: serialOf(n),
  certificatePem: `-----BEGIN CERTIFICATE-----\ncert${n}\n-----END CERTIFICATE-----\n`,
  chainPem: `-----BEGIN CERTIFICATE-----\ninter${n}\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n`,
  ...(key ? { privateKeyPem: `-----BEGIN PRIVATE KEY-----\nkey${n}\n-----END PRIVATE KEY-----\n` } : {}),
});

const withP12 = (b: ClientBundle, n: number): ClientBundle => ({ ...b, pkcs12: Buffer.from(`p12-${n}`) });

/** stage then publish: what issuing does once the registry recorded the certificate */
async function deliver(sink: BundleSink, ...bundles: ClientBundle[]): Promise<string[][]> {
  const staged = await sink.stage(bundles);
  await staged.publish();
  return staged.locations;
}

/** The BundleSink contract. */
function bundleSinkContract(name: string, fixture: () => Promise<SinkFixture>) {
  describe(`BundleSink contract: ${name}`, () => {
    it('publishes certificate, chain and key together, and overwrites them on re-issue', async () => {
      const { sink, read } = await fixture();
      const [first] = await deliver(sink, bundle(1));
      expect(first).toHaveLength(3);
      const contents = await Promise.all(first!.map(read));
      expect(contents.sort()).toEqual([bundle(1).certificatePem, bundle(1).chainPem, bundle(1).privateKeyPem!].sort());

      const [second] = await deliver(sink, bundle(2, false));
      expect(second).toHaveLength(2);
      const again = await Promise.all(second!.map(read));
      expect(again.sort()).toEqual([bundle(2).certificatePem, bundle(2).chainPem].sort());
      // a bundle without a key keeps the key the client has (a renewal certifies the same key)
      expect(await read(first!.find((l) => !second!.includes(l))!)).toBe(bundle(1).privateKeyPem);
    });

    it('a staged bundle changes nothing the client reads until it is published', async () => {
      const { sink, read } = await fixture();
      const [locs] = await deliver(sink, bundle(1));
      const staged = await sink.stage([bundle(2)]);
      expect(staged.locations).toEqual([locs]);
      expect((await Promise.all(locs!.map(read))).sort()).toEqual([bundle(1).certificatePem, bundle(1).chainPem, bundle(1).privateKeyPem!].sort());
      await staged.publish();
      expect((await Promise.all(locs!.map(read))).sort()).toEqual([bundle(2).certificatePem, bundle(2).chainPem, bundle(2).privateKeyPem!].sort());
      expect(await sink.recover(async () => true), 'nothing left staged after a publish').toEqual({ published: [], discarded: [] });
    });

    it('stages and publishes a batch, each bundle where its locations say', async () => {
      const { sink, read } = await fixture();
      const batch = [1, 2, 3].map((n) => bundle(n, n !== 2, `svc-batch-${n}`));
      const locations = await deliver(sink, ...batch);
      expect(locations).toHaveLength(3);
      for (const [i, b] of batch.entries()) {
        const contents = await Promise.all(locations[i]!.map(read));
        expect(contents.sort()).toEqual([b.certificatePem, b.chainPem, ...(b.privateKeyPem ? [b.privateKeyPem] : [])].sort());
      }
    });

    it('preflight leaves nothing behind, and delivery goes ahead after it', async () => {
      const { sink, contents } = await fixture();
      await sink.preflight();
      expect(await contents()).toEqual([]);
      expect((await deliver(sink, bundle(1)))[0]).toHaveLength(3);
    });

    it('describe tells whether a bundle holds a PKCS#12 and the key beside it; a re-issue without one removes it', async () => {
      const { sink, read } = await fixture();
      const [locs] = await deliver(sink, withP12(bundle(1, true, 'svc-p12'), 1));
      expect(locs).toHaveLength(4);
      const p12 = locs![3]!;
      expect(await read(p12)).toBeDefined();
      const [d, none] = await sink.describe(['svc-p12', 'svc-never'], { certificate: true });
      expect(d).toEqual({ clientId: 'svc-p12', pkcs12: true, certificatePem: bundle(1).certificatePem, privateKeyPem: bundle(1).privateKeyPem });
      expect(none).toEqual({ clientId: 'svc-never', pkcs12: false });
      // rebuilt: the new PKCS#12 replaces the old
      await deliver(sink, withP12(bundle(2, false, 'svc-p12'), 2));
      expect((await sink.describe(['svc-p12'], { certificate: true }))[0]).toMatchObject({ pkcs12: true, certificatePem: bundle(2).certificatePem });
      expect((await sink.describe(['svc-p12']))[0], 'the certificate only when asked').toEqual({ clientId: 'svc-p12', pkcs12: true, privateKeyPem: bundle(1).privateKeyPem });
      // dropped: a bundle without one never leaves the old one beside a new certificate
      await deliver(sink, bundle(3, false, 'svc-p12'));
      expect(await read(p12)).toBeUndefined();
      expect((await sink.describe(['svc-p12'], { certificate: true }))[0]).toEqual({ clientId: 'svc-p12', pkcs12: false, certificatePem: bundle(3).certificatePem });
    });

    it('recover publishes staged bundles the registry recorded and removes the others', async () => {
      const { sink, read } = await fixture();
      const [a, b] = await deliver(sink, bundle(1, true, 'svc-rec-a'), bundle(1, true, 'svc-rec-b'));
      // staged, then the run stops (its commit failed for b, or it crashed before publishing a)
      await sink.stage([withP12(bundle(2, true, 'svc-rec-a'), 2), bundle(2, true, 'svc-rec-b')]);
      const asked: string[] = [];
      const r = await sink.recover(async (id, serial) => {
        asked.push(`${id}/${serial}`);
        return id === 'svc-rec-a' && serial === serialOf(2);
      });
      expect(asked.sort()).toEqual([`svc-rec-a/${serialOf(2)}`, `svc-rec-b/${serialOf(2)}`]);
      expect(r).toEqual({ published: ['svc-rec-a'], discarded: ['svc-rec-b'] });
      expect(await read(a![0]!)).toBe(bundle(2).certificatePem);
      expect((await sink.describe(['svc-rec-a']))[0]!.pkcs12).toBe(true);
      expect(await read(b![0]!)).toBe(bundle(1).certificatePem);
      expect(await read(b![2]!)).toBe(bundle(1).privateKeyPem);
      expect(await sink.recover(async () => true)).toEqual({ published: [], discarded: [] });
    });

    it('refuses a client id that is not a valid name', async () => {
      const { sink } = await fixture();
      const e = await sink.stage([{ ...bundle(1), clientId: '../escape' }]).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CaError);
      expect((e as CaError).code).toBe('invalidInput');
    });
  });
}

describe('local', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  bundleSinkContract('DirectoryBundleSink', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ca-sink-'));
    dirs.push(d);
    return {
      sink: new DirectoryBundleSink(d),
      read: async (p) => (existsSync(p) ? readFileSync(p, 'utf8') : undefined),
      contents: async () => readdirSync(d, { recursive: true }).map(String),
    };
  });

  it('preflight refuses a destination that cannot take files, naming it, and creates nothing', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ca-sink-'));
    dirs.push(d);
    // a path under a regular file: unwritable for every user, root included (chmod would not stop root)
    writeFileSync(join(d, 'not-a-dir'), 'x');
    const out = join(d, 'not-a-dir', 'bundles');
    const e = await new DirectoryBundleSink(out).preflight().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(CaError);
    expect((e as CaError).code).toBe('storage');
    expect((e as CaError).message).toMatch(new RegExp(`^cannot write bundles to ${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: `));
    expect(readdirSync(d)).toEqual(['not-a-dir']);
  });

  it('preflight of a directory not created yet probes the nearest existing one and creates nothing', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ca-sink-'));
    dirs.push(d);
    await new DirectoryBundleSink(join(d, 'a', 'b')).preflight();
    expect(existsSync(join(d, 'a'))).toBe(false);
    expect(readdirSync(d)).toEqual([]);
  });
});

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  bundleSinkContract('SsmBundleSink', async () => {
    const prefix = `/${unique('contract-sink')}`;
    const client = env.clients.ssm;
    return {
      sink: new SsmBundleSink({ client, prefix, warn: () => undefined }),
      read: async (name) => {
        try {
          return (await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter!.Value!;
        } catch (e) {
          if ((e as Error).name === 'ParameterNotFound') return undefined;
          throw e;
        }
      },
      contents: async () => ((await client.send(new GetParametersByPathCommand({ Path: prefix, Recursive: true }))).Parameters ?? []).map((p) => p.Name!),
    };
  });
});

describe('SsmBundleSink after a crash in the middle of a publication', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });

  it('recover finishes it: the old pkcs12 stays removed, the staged values reach the final names, nothing stays staged', async () => {
    const prefix = `/${unique('sink-crash')}`;
    const client = env.clients.ssm;
    const sink = new SsmBundleSink({ client, prefix, warn: () => undefined });
    await deliver(sink, withP12(bundle(1, true, 'svc-c'), 1));
    const next = bundle(2, true, 'svc-c');
    await sink.stage([next]);
    // the crash came after the old pkcs12 was deleted and the key written (the order publish takes)
    const base = `${prefix}/clients/svc-c`;
    await client.send(new DeleteParametersCommand({ Names: [`${base}/pkcs12`] }));
    await client.send(new PutParameterCommand({ Name: `${base}/private-key`, Value: next.privateKeyPem!, Type: 'SecureString', Overwrite: true }));
    const r = await sink.recover(async (id, serial) => id === 'svc-c' && serial === next.serial);
    expect(r).toEqual({ published: ['svc-c'], discarded: [] });
    const values = await client.send(new GetParametersByPathCommand({ Path: prefix, Recursive: true, WithDecryption: true }));
    expect(Object.fromEntries((values.Parameters ?? []).map((p) => [p.Name!.slice(prefix.length), p.Value]))).toEqual({
      '/clients/svc-c/certificate': next.certificatePem,
      '/clients/svc-c/chain': next.chainPem,
      '/clients/svc-c/private-key': next.privateKeyPem,
    });
  });
});
