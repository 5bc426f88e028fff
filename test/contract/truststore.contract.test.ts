import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileTruststore } from '../../src/adapters/local/file-truststore.js';
import { S3Truststore } from '../../src/adapters/aws/s3-truststore.js';
import type { TruststorePublisher } from '../../src/ports.js';
import { createBucket, unique, useMoto } from '../aws/moto-env.js';

const block = () => `-----BEGIN CERTIFICATE-----\n${randomBytes(48).toString('base64')}\n-----END CERTIFICATE-----\n`;

/** The TruststorePublisher contract; `make` returns a publisher over an empty store. */
function truststoreContract(name: string, make: () => Promise<TruststorePublisher>) {
  describe(`TruststorePublisher contract: ${name}`, () => {
    it('publishes on the first sync, not again for the same content, and again for new content', async () => {
      const t = await make();
      expect(await t.current()).toBeUndefined();
      const a = block() + block();
      const first = await t.sync(a);
      expect(first.changed).toBe(true);
      expect(first.state.pem).toBe(a);
      expect(first.warnings).toEqual([]);
      expect(await t.current()).toEqual(first.state);

      // the same certificates with different line endings/whitespace are the same truststore
      const again = await t.sync(a.replace(/\n/g, '\r\n'));
      expect(again.changed).toBe(false);
      expect(again.state.version).toBe(first.state.version);

      const b = block() + a;
      const second = await t.sync(b);
      expect(second.changed).toBe(true);
      expect(second.state.version).not.toBe(first.state.version);
      expect(await t.current()).toEqual({ pem: b, version: second.state.version });
    });
  });
}

describe('local', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  truststoreContract('FileTruststore', async () => {
    const d = mkdtempSync(join(tmpdir(), 'ca-truststore-'));
    dirs.push(d);
    return new FileTruststore(d);
  });
});

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  truststoreContract('S3Truststore', async () => {
    const bucket = unique('contract-truststore');
    await createBucket(env.clients.s3, bucket);
    return new S3Truststore({ client: env.clients.s3, bucket, key: 'truststore.pem', warn: () => undefined });
  });
});
