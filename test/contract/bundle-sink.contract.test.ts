import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { SsmBundleSink } from '../../src/adapters/aws/ssm-bundle-sink.js';
import { CaError } from '../../src/domain/errors.js';
import type { BundleSink, ClientBundle } from '../../src/ports.js';
import { unique, useMoto } from '../aws/moto-env.js';

interface SinkFixture {
  sink: BundleSink;
  /** the content delivered at a location `deliver` returned */
  read: (location: string) => Promise<string>;
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
    return { sink: new DirectoryBundleSink(d), read: async (p) => readFileSync(p, 'utf8') };
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
    };
  });
});
