/**
 * Shared helpers for unit tests that need a real CA: a local store in a temporary directory driven by the
 * domain operations at fixed clocks, certificate parsing with two independent parsers (@peculiar/x509 and
 * Node's X509Certificate), and a thin `openssl` runner.
 */
import 'reflect-metadata';
import { spawnSync } from 'node:child_process';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import {
  AuthorityKeyIdentifierExtension,
  BasicConstraintsExtension,
  ExtendedKeyUsageExtension,
  KeyUsagesExtension,
  SubjectAlternativeNameExtension,
  SubjectKeyIdentifierExtension,
  X509Certificate as PecX509,
} from '@peculiar/x509';
import { expect } from 'vitest';
import { createLocalStore } from '../../src/adapters/local/local-store.js';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { loadCaState } from '../../src/domain/ca-state.js';
import { fixedClock, type OperationContext } from '../../src/domain/context.js';
import { CaError, type ExitCodeName } from '../../src/domain/errors.js';
import { bootstrap } from '../../src/domain/hierarchy.js';
import { DEFAULT_POLICY, DAY_MS, type CaPolicy } from '../../src/domain/policy.js';
import type { BundleSink, CertificateRecord, ClientBundle, StagedBundles } from '../../src/ports.js';

export const PASSPHRASE = async () => 'test-passphrase-123';
/** The instant every test CA is bootstrapped at (whole seconds, so records and certificates compare exactly). */
export const T0 = new Date('2026-03-01T12:00:00.000Z');
export const DAY = DAY_MS;
export const after = (ms: number, from: Date = T0) => new Date(from.getTime() + ms);

export const OID = {
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  sha256Rsa: '1.2.840.113549.1.1.11',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectAltName: '2.5.29.17',
  ski: '2.5.29.14',
  aki: '2.5.29.35',
  cn: '2.5.4.3',
  o: '2.5.4.10',
} as const;

/** Temporary directories created by the helpers; `cleanupAll` removes them. */
const created: string[] = [];

export function tempDir(prefix = 'ca-unit'): string {
  const d = mkdtempSync(join(tmpdir(), `${prefix}-`));
  created.push(d);
  return d;
}

export function cleanupAll(): void {
  for (const d of created.splice(0)) rmSync(d, { recursive: true, force: true });
}

/**
 * A sink that wraps another and can be told to fail: a stage that would take it past `failAfter` staged bundles
 * throws (nothing of it staged), and with `failPublish` a publish throws before anything is put in place, as a
 * crash between the registry commit and the publication would leave it.
 */
export class FlakySink implements BundleSink {
  readonly kind = 'flaky';
  /** bundles staged so far */
  delivered: ClientBundle[] = [];
  failAfter = Infinity;
  failPublish = false;
  constructor(readonly inner: BundleSink) {}
  describe(ids: string[], o?: { certificate?: boolean }) {
    return this.inner.describe(ids, o);
  }
  async stage(bundles: ClientBundle[]): Promise<StagedBundles> {
    if (this.delivered.length + bundles.length > this.failAfter) throw new Error(`simulated crash after ${this.failAfter} deliveries`);
    const staged = await this.inner.stage(bundles);
    this.delivered.push(...bundles);
    return {
      locations: staged.locations,
      publish: async () => {
        if (this.failPublish) throw new Error('simulated crash before publishing');
        return staged.publish();
      },
    };
  }
  recover(recorded: (clientId: string, serial: string) => Promise<boolean>) {
    return this.inner.recover(recorded);
  }
  preflight(): Promise<void> {
    return this.inner.preflight();
  }
}

export interface TestCa {
  dir: string;
  storeDir: string;
  bundleDir: string;
  store: ReturnType<typeof createLocalStore>;
  sink: FlakySink;
  policy: CaPolicy;
  /** An OperationContext at `at` (default T0) with the CA's policy, optionally overridden. */
  ctx(at?: Date | string, policy?: Partial<CaPolicy>): OperationContext;
  registryPath: string;
  registryBytes(): Buffer;
  records(): Promise<CertificateRecord[]>;
  truststoreFile(): string;
  /** PEM files of the bundle delivered for a client */
  bundle(clientId: string): { cert: string; chain: string; key?: string };
}

/** A CA in a fresh local store (bootstrapped at T0 unless `bootstrap: false`). */
export async function makeCa(o: { policy?: Partial<CaPolicy>; bootstrap?: boolean; at?: Date } = {}): Promise<TestCa> {
  const dir = tempDir('ca-pki');
  const storeDir = join(dir, 'store');
  const bundleDir = join(dir, 'bundles');
  const store = createLocalStore({ dir: storeDir, passphrase: PASSPHRASE });
  const sink = new FlakySink(new DirectoryBundleSink(bundleDir));
  const policy: CaPolicy = { ...DEFAULT_POLICY, ...o.policy };
  const ca: TestCa = {
    dir,
    storeDir,
    bundleDir,
    store,
    sink,
    policy,
    ctx: (when = T0, p = {}) => ({ store, clock: fixedClock(when), policy: { ...policy, ...p }, sink }),
    registryPath: join(storeDir, 'registry.json'),
    // the journal holds commits made since registry.json was last folded (domain calls here run without the lock)
    registryBytes: () =>
      Buffer.concat([readFileSync(join(storeDir, 'registry.json')), existsSync(join(storeDir, 'registry.journal')) ? readFileSync(join(storeDir, 'registry.journal')) : Buffer.alloc(0)]),
    records: () => store.registry.list(),
    truststoreFile: () => readFileSync(store.truststorePath, 'utf8'),
    bundle(clientId) {
      const d = join(bundleDir, clientId);
      let key: string | undefined;
      try {
        key = readFileSync(join(d, `${clientId}.key`), 'utf8');
      } catch {
        key = undefined;
      }
      return { cert: readFileSync(join(d, `${clientId}.crt`), 'utf8'), chain: readFileSync(join(d, 'chain.pem'), 'utf8'), key };
    },
  };
  if (o.bootstrap !== false) await bootstrap(ca.ctx(o.at ?? T0));
  return ca;
}

export async function caState(ca: TestCa) {
  return loadCaState(ca.store.registry);
}

/** Certificate facts parsed by @peculiar/x509, Node and the raw ASN.1 schema. */
export interface ParsedCert {
  pem: string;
  der: Buffer;
  pec: PecX509;
  node: NodeX509;
  version: number;
  sigOid: string;
  tbsSigOid: string;
  /** lowercase hex of the serial's content octets */
  serialHex: string;
  serialBytes: Buffer;
  basicConstraints?: { critical: boolean; ca: boolean; pathLength?: number };
  keyUsage?: { critical: boolean; usages: number };
  extKeyUsage?: { critical: boolean; usages: string[] };
  ski?: string;
  aki?: string;
  san?: { critical: boolean; names: { type: string; value: string }[] };
  extensionOids: string[];
  subjectAttrs: { type: string; value: string }[];
  /** BIT STRING content of subjectPublicKey */
  spki: Buffer;
}

export function parseCert(pem: string): ParsedCert {
  const pec = new PecX509(pem);
  const node = new NodeX509(pem);
  const der = Buffer.from(node.raw);
  const asn = AsnConvert.parse(der, Certificate);
  const find = <T>(type: new (raw: BufferSource) => T, oid: string): T | undefined => {
    const e = pec.extensions.find((x) => x.type === oid);
    return e ? new type(e.rawData) : undefined;
  };
  const bc = find(BasicConstraintsExtension, OID.basicConstraints);
  const ku = find(KeyUsagesExtension, OID.keyUsage);
  const eku = find(ExtendedKeyUsageExtension, OID.extKeyUsage);
  const ski = find(SubjectKeyIdentifierExtension, OID.ski);
  const aki = find(AuthorityKeyIdentifierExtension, OID.aki);
  const san = find(SubjectAlternativeNameExtension, OID.subjectAltName);
  const serialBytes = Buffer.from(asn.tbsCertificate.serialNumber);
  const subjectAttrs: { type: string; value: string }[] = [];
  for (const rdn of asn.tbsCertificate.subject) for (const atv of rdn) subjectAttrs.push({ type: atv.type, value: atv.value.toString() });
  return {
    pem,
    der,
    pec,
    node,
    version: asn.tbsCertificate.version + 1,
    sigOid: asn.signatureAlgorithm.algorithm,
    tbsSigOid: asn.tbsCertificate.signature.algorithm,
    serialHex: serialBytes.toString('hex'),
    serialBytes,
    basicConstraints: bc && { critical: bc.critical, ca: bc.ca, pathLength: bc.pathLength },
    keyUsage: ku && { critical: ku.critical, usages: ku.usages },
    extKeyUsage: eku && { critical: eku.critical, usages: eku.usages.map(String) },
    ski: ski?.keyId,
    aki: aki?.keyId,
    san: san && { critical: san.critical, names: san.names.items.map((n) => ({ type: n.type, value: n.value })) },
    extensionOids: pec.extensions.map((e) => e.type),
    subjectAttrs,
    spki: Buffer.from(asn.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey),
  };
}

/** PEM blocks of a bundle, in order. */
export function pemCerts(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n?/g) ?? [];
}

export interface RunResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function openssl(args: string[], input?: string | Buffer): RunResult {
  const r = spawnSync('openssl', args, { input, encoding: 'utf8' });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Runs openssl and fails the test with its stderr when it exits non-zero. */
export function opensslOk(args: string[], input?: string | Buffer): string {
  const r = openssl(args, input);
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')} failed (${r.status}):\n${r.stderr}`);
  return r.stdout;
}

/**
 * A TLS server certificate for 127.0.0.1 (serverAuth) under a test root made by openssl, which no default store
 * holds: for loopback HTTPS stand-ins (a registry, a proxy in front of moto) that a client must verify.
 */
export function loopbackServerPki(dir: string): { rootFile: string; root: string; key: Buffer; cert: Buffer } {
  mkdirSync(dir, { recursive: true });
  const p = (f: string) => join(dir, f);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  opensslOk(['req', '-x509', ...ec, '-subj', '/CN=Loopback Test Root', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign', '-keyout', p('root.key'), '-out', p('root.pem')]);
  opensslOk(['req', '-new', ...ec, '-subj', '/CN=127.0.0.1', '-keyout', p('server.key'), '-out', p('server.csr')]);
  writeFileSync(p('server.ext'), 'subjectAltName=IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n');
  opensslOk(['x509', '-req', '-in', p('server.csr'), '-CA', p('root.pem'), '-CAkey', p('root.key'), '-CAcreateserial', '-days', '1', '-extfile', p('server.ext'), '-out', p('server.pem')]);
  return { rootFile: p('root.pem'), root: readFileSync(p('root.pem'), 'utf8'), key: readFileSync(p('server.key')), cert: readFileSync(p('server.pem')) };
}

export function writeTemp(dir: string, name: string, content: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, content);
  return p;
}

/** Seconds since the epoch, for `openssl verify -attime`. */
export const epoch = (d: Date) => String(Math.floor(d.getTime() / 1000));

/** Awaits `p` and asserts it rejects with a CaError of `code`; returns the error for further checks. */
export async function expectCaError(p: Promise<unknown> | (() => unknown), code: ExitCodeName, message?: RegExp): Promise<CaError> {
  let err: unknown;
  try {
    if (typeof p === 'function') await p();
    else await p;
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a CaError to be thrown').toBeInstanceOf(CaError);
  const ce = err as CaError;
  expect(ce.code, `code of "${ce.message}"`).toBe(code);
  if (message) expect(ce.message).toMatch(message);
  expect(ce.message).not.toContain('\n');
  return ce;
}

/** Synchronous variant for pure functions. */
export function expectCaErrorSync(fn: () => unknown, code: ExitCodeName, message?: RegExp): CaError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  expect(err, 'expected a CaError to be thrown').toBeInstanceOf(CaError);
  const ce = err as CaError;
  expect(ce.code, `code of "${ce.message}"`).toBe(code);
  if (message) expect(ce.message).toMatch(message);
  expect(ce.message).not.toContain('\n');
  return ce;
}
