import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyCustody } from '../../src/adapters/local/file-key-custody.js';
import { SsmKeyCustody } from '../../src/adapters/aws/ssm-key-custody.js';
import { KmsKeyCustody } from '../../src/adapters/aws/kms-key-custody.js';
import { CaError } from '../../src/domain/errors.js';
import { keyTypeOf, publicKeyFromSpki, signatureAlgorithmOf } from '../../src/domain/keys.js';
import type { KeyCustody, KeyType } from '../../src/ports.js';
import { unique, useMoto } from '../aws/moto-env.js';

interface CustodyFixture {
  /** a custody over the same backing store each call (a fresh process, as it were) */
  make: () => KeyCustody;
  unknownRef: string;
}

function assertSigns(pub: Uint8Array, keyType: KeyType, data: Buffer, sig: Uint8Array) {
  const key = publicKeyFromSpki(pub);
  expect(keyTypeOf(key)).toBe(keyType);
  expect(verify(signatureAlgorithmOf(keyType).hash, data, key, sig)).toBe(true);
  expect(verify(signatureAlgorithmOf(keyType).hash, Buffer.concat([data, Buffer.from([0])]), key, sig)).toBe(false);
}

/** The KeyCustody contract. */
function keyCustodyContract(name: string, fixture: () => Promise<CustodyFixture>) {
  describe(`KeyCustody contract: ${name}`, () => {
    for (const keyType of ['ec-p256', 'ec-p384', 'rsa-2048'] as KeyType[]) {
      it(`creates a ${keyType} key whose signatures verify, and opens it again by reference`, async () => {
        const f = await fixture();
        const { keyRef, signer } = await f.make().create('root', keyType);
        expect(signer.keyType).toBe(keyType);
        const data = randomBytes(700);
        assertSigns(signer.publicKeySpki, keyType, data, await signer.sign(data));
        const reopened = await f.make().open(keyRef, keyType);
        expect(Buffer.from(reopened.publicKeySpki).equals(Buffer.from(signer.publicKeySpki))).toBe(true);
        assertSigns(reopened.publicKeySpki, keyType, data, await reopened.sign(data));
      });
    }

    it('gives every new key its own reference', async () => {
      const f = await fixture();
      const c = f.make();
      const a = await c.create('intermediate', 'ec-p256');
      const b = await c.create('intermediate', 'ec-p256');
      expect(a.keyRef).not.toBe(b.keyRef);
      expect(Buffer.from(a.signer.publicKeySpki).equals(Buffer.from(b.signer.publicKeySpki))).toBe(false);
    });

    it('reports an unknown reference as not found', async () => {
      const f = await fixture();
      const e = await f.make().open(f.unknownRef, 'ec-p256').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CaError);
      expect((e as CaError).code).toBe('notFound');
    });
  });
}

describe('local', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  keyCustodyContract('FileKeyCustody', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-custody-'));
    dirs.push(dir);
    return { make: () => new FileKeyCustody(dir, async () => 'contract-passphrase'), unknownRef: 'keys/missing.key.pem' };
  });
});

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  keyCustodyContract('SsmKeyCustody', async () => {
    const prefix = `/${unique('contract')}`;
    return { make: () => new SsmKeyCustody({ client: env.clients.ssm, prefix }), unknownRef: `${prefix}/ca/root-000000000000` };
  });
  keyCustodyContract('KmsKeyCustody', async () => ({
    make: () => new KmsKeyCustody({ client: env.clients.kms, caName: 'contract' }),
    unknownRef: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
  }));
});
