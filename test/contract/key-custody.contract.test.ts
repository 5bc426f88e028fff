import { copyFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FileKeyCustody } from '../../src/adapters/local/file-key-custody.js';
import { SsmKeyCustody } from '../../src/adapters/aws/ssm-key-custody.js';
import { KmsKeyCustody } from '../../src/adapters/aws/kms-key-custody.js';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { openSigner } from '../../src/domain/ca-state.js';
import { referenceCertificate } from '../helpers/reference-encoder.js';
import { sha256Hex } from '../../src/domain/keys.js';
import { CaError } from '../../src/domain/errors.js';
import { keyTypeOf, publicKeyFromSpki, signatureAlgorithmOf } from '../../src/domain/keys.js';
import { randomSerial } from '../../src/domain/serial.js';
import type { CaSigner, CertificateRecord, KeyCustody, KeyType } from '../../src/ports.js';
import { unique, useMoto } from '../aws/moto-env.js';

interface CustodyFixture {
  /** a custody over the same backing store each call (a fresh process, as it were) */
  make: () => KeyCustody;
  unknownRef: string;
  /** what describeKey must name for a reference (the file path, the parameter name, the key ARN) */
  names: RegExp;
  /**
   * Puts the key stored under `from` in place of the one under `to`, as an operator swapping key files (or
   * overwriting a parameter) would. Absent for KMS: a KMS key reference cannot be made to hold another key.
   */
  swap?: (to: string, from: string) => Promise<void>;
  /** whether the custody still holds a usable key under the reference */
  holds: (keyRef: string) => Promise<boolean>;
}

/** The registry record of a self-signed CA certificate for `signer`'s key, its key under `keyRef`. */
async function caRecord(signer: CaSigner, keyRef: string): Promise<CertificateRecord> {
  const now = new Date(Math.floor(Date.now() / 1000) * 1000);
  const serial = randomSerial();
  const notAfter = new Date(now.getTime() + 86_400_000);
  const ref = await referenceCertificate({ kind: 'root', serial, subject: { commonName: 'Contract Root CA', organization: 'Contract' }, notBefore: now, notAfter, publicKeySpki: signer.publicKeySpki }, signer);
  const cert = { fingerprint: sha256Hex(ref.der), subject: 'CN=Contract Root CA, O=Contract', pem: ref.pem };
  return {
    serial,
    kind: 'root',
    clientId: 'root',
    status: 'active',
    fingerprint: cert.fingerprint,
    subject: cert.subject,
    issuer: cert.subject,
    notBefore: now.toISOString(),
    notAfter: notAfter.toISOString(),
    keyType: signer.keyType,
    publicKey: Buffer.from(signer.publicKeySpki).toString('base64'),
    keyOrigin: 'ca',
    keyRef,
    certificatePem: cert.pem,
    createdAt: now.toISOString(),
  };
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

    it('opens a CA key only for the certificate it belongs to, and names where the key lives when it does not', async () => {
      const f = await fixture();
      const c = f.make();
      const a = await c.create('root', 'ec-p256');
      const b = await c.create('intermediate', 'ec-p256');
      const record = await caRecord(a.signer, a.keyRef);
      const opened = await openSigner(f.make(), record);
      expect(Buffer.from(opened.publicKeySpki).equals(Buffer.from(a.signer.publicKeySpki))).toBe(true);
      // the record points at the other CA's key, as a registry restored next to the wrong keys would
      const fresh = f.make();
      const e = await openSigner(fresh, { ...record, keyRef: b.keyRef }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(CaError);
      expect((e as CaError).code).toBe('invalidInput');
      expect((e as CaError).exitCode).toBe(3);
      expect(fresh.describeKey(b.keyRef)).toMatch(f.names);
      expect((e as CaError).message).toBe(`CA key ${fresh.describeKey(b.keyRef)} does not belong to certificate ${record.serial} (${record.subject})`);
    });

    it('derives the signer\'s public key from the key it holds, so a swapped key is refused on open', async (t) => {
      const f = await fixture();
      if (!f.swap) return t.skip('a KMS key reference always names the same key; the record-level swap above covers KMS');
      const c = f.make();
      const a = await c.create('root', 'ec-p256');
      const b = await c.create('intermediate', 'ec-p256');
      const record = await caRecord(a.signer, a.keyRef);
      await f.swap(a.keyRef, b.keyRef);
      const fresh = f.make();
      const reopened = await fresh.open(a.keyRef, 'ec-p256');
      expect(Buffer.from(reopened.publicKeySpki).equals(Buffer.from(b.signer.publicKeySpki))).toBe(true);
      const e = await openSigner(f.make(), record).catch((x: unknown) => x);
      expect((e as CaError).code).toBe('invalidInput');
      expect((e as CaError).message).toContain(`CA key ${fresh.describeKey(a.keyRef)} does not belong to certificate ${record.serial}`);
    });

    it('discards a key nothing records, and a second discard is harmless', async () => {
      const f = await fixture();
      const c = f.make();
      const kept = await c.create('root', 'ec-p256');
      const gone = await c.create('intermediate', 'ec-p256');
      await c.discard(gone.keyRef);
      await f.make().discard(gone.keyRef);
      expect(await f.holds(gone.keyRef)).toBe(false);
      expect(await f.holds(kept.keyRef)).toBe(true);
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
    return {
      make: () => new FileKeyCustody(dir, async () => 'contract-passphrase'),
      unknownRef: 'keys/missing.key.pem',
      names: new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/keys/intermediate-[0-9a-f]+\\.key\\.pem$`),
      swap: async (to, from) => copyFileSync(join(dir, from), join(dir, to)),
      holds: async (keyRef) => existsSync(join(dir, keyRef)),
    };
  });
});

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  keyCustodyContract('SsmKeyCustody', async () => {
    const prefix = `/${unique('contract')}`;
    return {
      make: () => new SsmKeyCustody({ client: env.clients.ssm, prefix }),
      unknownRef: `${prefix}/ca/root-000000000000`,
      names: new RegExp(`^SSM parameter ${prefix}/ca/intermediate-[0-9a-f]+$`),
      swap: async (to, from) => {
        const v = await env.clients.ssm.send(new GetParameterCommand({ Name: from, WithDecryption: true }));
        await env.clients.ssm.send(new PutParameterCommand({ Name: to, Value: v.Parameter!.Value!, Type: 'SecureString', Overwrite: true }));
      },
      holds: async (keyRef) =>
        env.clients.ssm.send(new GetParameterCommand({ Name: keyRef, WithDecryption: true })).then(
          () => true,
          (e: { name?: string }) => (e.name === 'ParameterNotFound' ? false : Promise.reject(e)),
        ),
    };
  });
  keyCustodyContract('KmsKeyCustody', async () => ({
    make: () => new KmsKeyCustody({ client: env.clients.kms, caName: 'contract' }),
    unknownRef: 'arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000',
    names: /^KMS key arn:aws:kms:[a-z0-9-]+:\d{12}:key\/[0-9a-f-]{36}$/,
    // a discarded KMS key is scheduled for deletion (the shortest window, 7 days) and cannot sign meanwhile
    holds: async (keyRef) => (await env.clients.kms.send(new DescribeKeyCommand({ KeyId: keyRef }))).KeyMetadata?.KeyState === 'Enabled',
  }));
});
