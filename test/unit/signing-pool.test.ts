import { describe, it, expect, afterAll } from 'vitest';
import { createPrivateKey, createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { WorkerSigningPool } from '../../src/adapters/threads/signing-pool.js';
import { keyObjectSigner } from '../../src/adapters/local/file-key-custody.js';
import { referenceCertificate } from '../helpers/reference-encoder.js';
import { randomSerial } from '../../src/domain/serial.js';
import { ClientTemplate } from '../../src/domain/template.js';
import { openIssuer, signClients, type ClientRequest } from '../../src/domain/issuance.js';
import type { SigningItem, SigningPool } from '../../src/ports.js';
import { cleanupAll, makeCa } from '../helpers/pki.js';

const pool = new WorkerSigningPool(2);
afterAll(async () => {
  await pool.close();
  cleanupAll();
});

describe('worker signing pool', () => {
  it('signs on threads exactly what the main thread would, in input order, and generates working keys', async () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const signer = keyObjectSigner(key, 'ec-p256');
    const now = new Date();
    const ca = await referenceCertificate(
      { kind: 'root', serial: randomSerial(), subject: { commonName: 'Pool CA', organization: 'Org' }, notBefore: new Date(Math.floor(now.getTime() / 1000) * 1000), notAfter: new Date(Math.floor(now.getTime() / 1000) * 1000 + 1e10), publicKeySpki: signer.publicKeySpki },
      signer,
    );
    const tpl = new ClientTemplate(ca.der, 'ec-p256');
    const given = generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey.export({ type: 'spki', format: 'der' });
    const items: SigningItem[] = Array.from({ length: 300 }, (_, i) => ({
      serial: randomSerial(),
      commonName: `client-${i}`,
      organization: 'Org',
      notBefore: now.getTime() - (now.getTime() % 1000),
      notAfter: now.getTime() - (now.getTime() % 1000) + 86_400_000,
      ...(i % 3 === 0 ? { publicKeySpki: given } : { generateKeyType: i % 3 === 1 ? ('ec-p256' as const) : ('rsa-2048' as const) }),
      ...(i % 2 ? { spiffeId: `spiffe://td/client/client-${i}` } : {}),
      ...(i % 5 === 0 ? { crlDistributionPoint: 'https://pki.example.com/crl/pool.crl' } : {}),
    }));
    const results = await pool.sign(ca.der, key, 'ec-p256', items);
    expect(results).toHaveLength(items.length);
    const caX = new X509Certificate(ca.der);
    results.forEach((r, i) => {
      const x = new X509Certificate(Buffer.from(r.der));
      expect(x.serialNumber.toLowerCase()).toBe(items[i]!.serial);
      expect(x.subject).toContain(`CN=client-${i}`);
      expect(x.verify(caX.publicKey)).toBe(true);
      // the TBS the worker signed is the main thread's TBS for the same input, byte for byte
      const tbs = tpl.tbs({ ...items[i]!, notBefore: new Date(items[i]!.notBefore), notAfter: new Date(items[i]!.notAfter), publicKeySpki: r.publicKeySpki });
      expect(Buffer.from(r.der).includes(tbs)).toBe(true);
      if (items[i]!.publicKeySpki) {
        expect(r.privateKeyPem).toBeUndefined();
        expect(Buffer.from(r.publicKeySpki).equals(given)).toBe(true);
      } else {
        // the generated private key belongs to the certified public key
        const priv = createPrivateKey(r.privateKeyPem!);
        expect(createPublicKey(priv).export({ type: 'spki', format: 'der' }).equals(x.publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
      }
    });
  });
});

describe('batch issuance and the CA key', () => {
  it('signs on the pool\'s threads with the key a file custody lends, and one by one through sign() when the custody lends none (KMS)', async () => {
    const ca = await makeCa();
    const calls: number[] = [];
    const counting: SigningPool = { size: pool.size, sign: (...a) => (calls.push(a[3].length), pool.sign(...a)), close: async () => undefined };
    const ctx = { ...ca.ctx(), pool: counting };
    const issuer = await openIssuer(ctx);
    expect(issuer.signer.keyForWorkerThreads, 'a file custody holds the key in this process').toBeTypeOf('function');
    const requests: ClientRequest[] = Array.from({ length: 70 }, (_, i) => ({ clientId: `batch-${i}`, keyType: 'ec-p256', keyOrigin: 'generated' }));
    const issuing = new X509Certificate(issuer.state.issuing.certificatePem);
    const verified = (issued: Awaited<ReturnType<typeof signClients>>) => issued.every((c) => new X509Certificate(c.record.certificatePem).verify(issuing.publicKey));

    const threaded = await signClients(ctx, issuer, requests);
    expect(calls).toEqual([70]);
    expect(verified(threaded)).toBe(true);

    // a signer as KMS gives it: sign() only, the key never handed out
    const kmsLike = { ...issuer, signer: { keyType: issuer.signer.keyType, publicKeySpki: issuer.signer.publicKeySpki, sign: issuer.signer.sign } };
    const oneByOne = await signClients(ctx, kmsLike, requests);
    expect(calls).toEqual([70]);
    expect(oneByOne).toHaveLength(70);
    expect(verified(oneByOne)).toBe(true);
  });
});
