/**
 * Issues client certificates through the domain's own code path (the one every command uses) for the three
 * workloads: (a) key generated + client profile + PEM certificate + PKCS#8 key, (b) a given public key (a CSR's),
 * (c) re-issue under a new intermediate for an existing key (rotation). Prints one JSON line of certificates/s.
 *
 * The `*Parallel` rows do the same in batches of 990 through `signClients` with the worker pool on every core,
 * as rotation, `--from` provisioning and `renew --all` do.
 *
 * Usage: node dist-bench/issuance.js SECONDS_PER_WORKLOAD
 */
import { generateKeyPairSync } from 'node:crypto';
import type { CertificateRecord } from '../src/ports.js';
import { keyObjectSigner } from '../src/adapters/local/file-key-custody.js';
import { fixedClock, type OperationContext } from '../src/domain/context.js';
import { generatedKeySpec, signClient, signClients, type Issuer, type ClientSpec } from '../src/domain/issuance.js';
import { WorkerSigningPool } from '../src/adapters/threads/signing-pool.js';
import { DEFAULT_POLICY } from '../src/domain/policy.js';
import { randomSerial } from '../src/domain/serial.js';
import { CertificateTemplate, ClientTemplate } from '../src/domain/template.js';
import { INTERMEDIATE, ROOT } from '../src/domain/profiles.js';
import { toPem } from '../src/domain/der.js';

const SECONDS = Number(process.argv[2] ?? 2);
const now = new Date();
const clock = fixedClock(now);
const ctx = { clock, policy: DEFAULT_POLICY } as OperationContext;

async function ca(name: string, parent?: { der: Buffer; signer: ReturnType<typeof keyObjectSigner> }) {
  const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const signer = keyObjectSigner(key, 'ec-p256');
  const tpl = new CertificateTemplate(parent?.der, 'ec-p256');
  const tbs = tpl.tbs(parent ? INTERMEDIATE : ROOT, {
    serial: randomSerial(),
    subject: { commonName: name, organization: 'Bench Org' },
    notBefore: new Date(Math.floor((now.getTime() - 60_000) / 1000) * 1000),
    notAfter: new Date(Math.floor((now.getTime() + 1000 * 86_400_000) / 1000) * 1000),
    publicKeySpki: signer.publicKeySpki,
  });
  const der = tpl.certificate(tbs, await (parent?.signer ?? signer).sign(tbs));
  return { der, pem: toPem('CERTIFICATE', der), signer };
}

function issuerOf(root: Awaited<ReturnType<typeof ca>>, inter: Awaited<ReturnType<typeof ca>>): Issuer {
  const rec = (c: typeof root, serial: string) =>
    ({ serial, certificatePem: c.pem, notBefore: new Date(now.getTime() - 60_000).toISOString(), notAfter: new Date(now.getTime() + 1000 * 86_400_000).toISOString(), subject: 'CN=x' }) as CertificateRecord;
  return {
    state: { root: rec(root, 'aa'), issuing: rec(inter, 'bb'), previous: [], retired: [], all: [] },
    signer: inter.signer,
    organization: 'Bench Org',
    template: new ClientTemplate(inter.der, 'ec-p256'),
  };
}

async function run(work: (i: number) => Promise<unknown>): Promise<{ rate: number; n: number }> {
  let n = 0;
  const start = performance.now();
  for (;;) {
    await work(n++);
    if (n % 50 === 0 && performance.now() - start >= SECONDS * 1000) return { rate: n / ((performance.now() - start) / 1000), n };
  }
}

const root = await ca('Bench Root');
const i1 = issuerOf(root, await ca('Bench Issuing', root));
const i2 = issuerOf(root, await ca('Bench Issuing 2', root));
const keys: ClientSpec[] = Array.from({ length: 256 }, (_, k) => {
  // the SPKI as DER, not through a JWK: Node 20 can deadlock exporting a JWK of a key generateKeyPairSync just made
  // (the export holds the key's mutex while it allocates; a GC then finalises the key generation job, which takes
  // the same mutex), which hung a full bench run here
  const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
  return { clientId: `c${k}`, keyType: 'ec-p256', keyOrigin: 'csr', publicKeySpki: spki };
});

const a = await run((i) => signClient(ctx, i1, generatedKeySpec(`client-${i}`, 'ec-p256')));
const b = await run((i) => signClient(ctx, i1, { ...keys[i % 256]!, clientId: `client-${i}` }));
const c = await run((i) => signClient(ctx, i2, { ...keys[i % 256]!, clientId: `client-${i}`, keyOrigin: 'generated' }));
// Batches, as the batch commands run them: 990 certificates per signClients call, on the worker pool.
const pool = new WorkerSigningPool();
const pctx = { ...ctx, pool } as OperationContext;
const BATCH = 990;
async function runBatches(make: (i: number) => Parameters<typeof signClients>[2][number], issuer: Issuer) {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < SECONDS * 1000) {
    await signClients(pctx, issuer, Array.from({ length: BATCH }, (_, k) => make(n + k)));
    n += BATCH;
  }
  return { rate: n / ((performance.now() - start) / 1000), n };
}
await runBatches((i) => ({ clientId: `warm-${i}`, keyType: 'ec-p256', keyOrigin: 'generated' }), i1); // thread start-up
const ap = await runBatches((i) => ({ clientId: `client-${i}`, keyType: 'ec-p256', keyOrigin: 'generated' }), i1);
const bp = await runBatches((i) => ({ ...keys[i % 256]!, clientId: `client-${i}` }), i1);
const cp = await runBatches((i) => ({ ...keys[i % 256]!, clientId: `client-${i}`, keyOrigin: 'generated' }), i2);
await pool.close();
console.log(
  JSON.stringify({
    a: a.rate,
    b: b.rate,
    c: c.rate,
    aParallel: ap.rate,
    bParallel: bp.rate,
    cParallel: cp.rate,
    threads: pool.size,
    n: { a: a.n, b: b.n, c: c.n, aParallel: ap.n, bParallel: bp.n, cParallel: cp.n },
  }),
);
