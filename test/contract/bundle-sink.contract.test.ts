import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetParameterCommand, GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { SsmBundleSink } from '../../src/adapters/aws/ssm-bundle-sink.js';
import { CaError } from '../../src/domain/errors.js';
import type { BundleSink, ClientBundle } from '../../src/ports.js';
import { unique, useMoto } from '../aws/moto-env.js';

interface SinkFixture {
  sink: BundleSink;
  /** the content delivered at a location `deliver` returned */
  read: (location: string) => Promise<string>;
  /** everything the sink's destination holds (file or parameter names) */
  contents: () => Promise<string[]>;
}

const bundle = (n: number, key = true): ClientBundle => ({
  clientId: 'svc-a',
  certificatePem: `-----BEGIN CERTIFICATE-----\ncert${n}\n-----END CERTIFICATE-----\n`,
  chainPem: `-----BEGIN CERTIFICATE-----\ninter${n}\n-----END CERTIFICATE-----\n-----BEGIN CERTIFICATE-----\nroot\n-----END CERTIFICATE-----\n`,
  ...(key ? { privateKeyPem: `-----BEGIN PRIVATE KEY-----\nkey${n}\n-----END PRIVATE KEY-----\n` } : {}),
});

/** The BundleSink contract. */
function bundleSinkContract(name: string, fixture: () => Promise<SinkFixture>) {
  describe(`BundleSink contract: ${name}`, () => {
    it('delivers certificate, chain and key, and overwrites them on re-issue', async () => {
      const { sink, read } = await fixture();
      const first = await sink.deliver(bundle(1));
      expect(first).toHaveLength(3);
      const contents = await Promise.all(first.map(read));
      expect(contents.sort()).toEqual([bundle(1).certificatePem, bundle(1).chainPem, bundle(1).privateKeyPem!].sort());

      const second = await sink.deliver(bundle(2, false));
      expect(second).toHaveLength(2);
      const again = await Promise.all(second.map(read));
      expect(again.sort()).toEqual([bundle(2).certificatePem, bundle(2).chainPem].sort());
    });

    it('delivers a batch like one by one, each bundle where deliver would put it', async () => {
      const { sink, read } = await fixture();
      const batch = [1, 2, 3].map((n) => ({ ...bundle(n, n !== 2), clientId: `svc-batch-${n}` }));
      expect(sink.deliverMany, 'every sink implements deliverMany').toBeTypeOf('function');
      const locations = await sink.deliverMany!(batch);
      expect(locations).toHaveLength(3);
      for (const [i, b] of batch.entries()) {
        expect(locations[i]).toEqual(await sink.deliver(b));
        const contents = await Promise.all(locations[i]!.map(read));
        expect(contents.sort()).toEqual([b.certificatePem, b.chainPem, ...(b.privateKeyPem ? [b.privateKeyPem] : [])].sort());
      }
    });

    it('preflight leaves nothing behind, and delivery goes ahead after it', async () => {
      const { sink, contents } = await fixture();
      await sink.preflight();
      expect(await contents()).toEqual([]);
      expect(await sink.deliver(bundle(1))).toHaveLength(3);
    });

    it('refuses a client id that is not a valid name', async () => {
      const { sink } = await fixture();
      const e = await sink.deliver({ ...bundle(1), clientId: '../escape' }).catch((x: unknown) => x);
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
    return { sink: new DirectoryBundleSink(d), read: async (p) => readFileSync(p, 'utf8'), contents: async () => readdirSync(d, { recursive: true }).map(String) };
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
      read: async (name) => (await client.send(new GetParameterCommand({ Name: name, WithDecryption: true }))).Parameter!.Value!,
      contents: async () => ((await client.send(new GetParametersByPathCommand({ Path: prefix, Recursive: true }))).Parameters ?? []).map((p) => p.Name!),
    };
  });
});
