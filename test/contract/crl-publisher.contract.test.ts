import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileCrls } from '../../src/adapters/local/file-crls.js';
import { S3Crls } from '../../src/adapters/aws/s3-crls.js';
import { pemBlocks } from '../../src/domain/der.js';
import type { CrlPublisher } from '../../src/ports.js';
import { createBucket, unique, useMoto } from '../aws/moto-env.js';

/** The CrlPublisher contract; `make` returns a publisher over an empty store and reads a location back. */
function crlContract(name: string, make: () => Promise<{ p: CrlPublisher; read: (location: string) => Promise<Buffer> }>) {
  describe(`CrlPublisher contract: ${name}`, () => {
    it('publishes DER and PEM under the name, reads the DER back, and a repeated or newer publication replaces both', async () => {
      const { p, read } = await make();
      expect(await p.current('1a2b')).toBeUndefined();
      const locations = p.locations('1a2b');
      expect(locations).toHaveLength(2);
      expect(locations[0]).toMatch(/1a2b\.crl$/);
      expect(locations[1]).toMatch(/1a2b\.crl\.pem$/);
      const a = randomBytes(200);
      expect(await p.publish('1a2b', a)).toEqual(locations);
      // a retry of the same write is harmless
      expect(await p.publish('1a2b', a)).toEqual(locations);
      expect(Buffer.from((await p.current('1a2b'))!).equals(a)).toBe(true);
      expect((await read(locations[0]!)).equals(a)).toBe(true);
      const pem = (await read(locations[1]!)).toString('utf8');
      expect(pem).toMatch(/^-----BEGIN X509 CRL-----\n/);
      expect(pemBlocks(pem, 'X509 CRL')[0]!.equals(a)).toBe(true);
      const b = randomBytes(300);
      await p.publish('1a2b', b);
      expect(Buffer.from((await p.current('1a2b'))!).equals(b)).toBe(true);
      expect(pemBlocks((await read(locations[1]!)).toString('utf8'), 'X509 CRL')[0]!.equals(b)).toBe(true);
      // names are independent
      expect(await p.current('3c4d')).toBeUndefined();
    });
  });
}

describe('local', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  crlContract('FileCrls', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ca-crls-'));
    dirs.push(d);
    return { p: new FileCrls(d), read: async (path) => readFileSync(path) };
  });
});

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  crlContract('S3Crls', async () => {
    const bucket = unique('contract-crls');
    await createBucket(env.clients.s3, bucket);
    return {
      p: new S3Crls({ client: env.clients.s3, bucket }),
      read: async (uri) => {
        const key = uri.replace(`s3://${bucket}/`, '');
        const r = await env.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return Buffer.from(await r.Body!.transformToByteArray());
      },
    };
  });
});
