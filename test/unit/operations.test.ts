import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCaState } from '../../src/domain/ca-state.js';
import { checkCsr } from '../../src/domain/csr.js';
import { bootstrap, retireIntermediate, rotateIntermediate, syncTruststore } from '../../src/domain/hierarchy.js';
import { issueClient, renew } from '../../src/domain/issuance.js';
import { provision, provisionChunk, PROVISION_CHUNK, type ProvisionEntry } from '../../src/domain/provision.js';
import { planCommit } from '../../src/adapters/aws/dynamodb-registry.js';
import { revoke } from '../../src/domain/revocation.js';
import { status } from '../../src/domain/reporting.js';
import { CaError, storageError } from '../../src/domain/errors.js';
import type { CertificateRecord, CertificateRegistry, RegistryChange } from '../../src/ports.js';
import { after, cleanupAll, DAY, expectCaError, makeCa, opensslOk, parseCert, pemCerts, tempDir, type TestCa } from '../helpers/pki.js';

afterAll(cleanupAll);

const HOUR = 60 * 60 * 1000;
const ISSUE_AT = after(HOUR);
const ROTATE_AT = after(DAY);

const serialsOf = (pem: string) => pemCerts(pem).map((c) => parseCert(c).serialHex);
const spkiOf = (r: CertificateRecord) => parseCert(r.certificatePem).node.publicKey.export({ format: 'der', type: 'spki' }).toString('base64');

async function clientRecords(ca: TestCa, clientId?: string): Promise<CertificateRecord[]> {
  return ca.store.registry.list({ kind: 'client', ...(clientId ? { clientId } : {}) });
}

async function active(ca: TestCa, clientId: string): Promise<CertificateRecord> {
  const a = await ca.store.registry.list({ kind: 'client', clientId, status: 'active' });
  expect(a, `active certificates of ${clientId}`).toHaveLength(1);
  return a[0]!;
}

/** A client-made key pair, as a checked CSR would hand it over. */
function csrKey(): Buffer {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' });
}

/** Snapshot of the files a failed command must not change. */
function snapshot(ca: TestCa): () => void {
  const registry = ca.registryBytes();
  const truststore = ca.truststoreFile();
  return () => {
    expect(ca.registryBytes().equals(registry), 'registry.json changed').toBe(true);
    expect(ca.truststoreFile()).toBe(truststore);
  };
}

describe('bootstrap', () => {
  it('creates root and intermediate, records them and publishes the truststore', async () => {
    const ca = await makeCa({ bootstrap: false });
    const r = await bootstrap(ca.ctx());
    expect(r.action).toBe('created');
    const s = await loadCaState(ca.store.registry);
    expect(s.root!.serial).toBe(r.root!.serial);
    expect(s.issuing!.serial).toBe(r.intermediate!.serial);
    expect(serialsOf(ca.truststoreFile())).toEqual([r.intermediate!.serial, r.root!.serial]);
    expect(r.truststore?.changed).toBe(true);
  });

  it('twice is a conflict and changes nothing', async () => {
    const ca = await makeCa();
    const unchanged = snapshot(ca);
    await expectCaError(bootstrap(ca.ctx(ISSUE_AT)), 'conflict', /already exists/);
    unchanged();
  });

  it('--dry-run changes nothing', async () => {
    const ca = await makeCa();
    const unchanged = snapshot(ca);
    expect((await bootstrap(ca.ctx(ISSUE_AT), { force: true, dryRun: true })).action).toBe('would-replace');
    unchanged();
  });

  it('--force retires every old CA record and publishes only the new hierarchy', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'c1' });
    await rotateIntermediate(ca.ctx(ROTATE_AT));
    const old = await loadCaState(ca.store.registry);
    const oldSerials = [old.root!, old.issuing!, ...old.previous].map((r) => r.serial);
    const at = after(2 * DAY);
    const r = await bootstrap(ca.ctx(at), { force: true });
    expect(r.action).toBe('replaced');
    expect([...r.replaced].sort()).toEqual([...oldSerials].sort());
    for (const serial of oldSerials) {
      const rec = (await ca.store.registry.get(serial))!;
      expect(rec.status).toBe('retired');
      expect(rec.retiredAt).toBe(at.toISOString());
    }
    const s = await loadCaState(ca.store.registry);
    expect(oldSerials).not.toContain(s.root!.serial);
    expect(serialsOf(ca.truststoreFile())).toEqual([s.issuing!.serial, s.root!.serial]);
  });

  // After a forced re-bootstrap the old clients are still `active` in the registry, so planRotation takes them for
  // an interrupted rotation: the next rotate-intermediate creates no intermediate and silently re-certifies
  // clients of the replaced CA under the new one.
  it('after --force, the next rotation rotates and does not re-certify clients of the replaced CA', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'old-client' });
    await bootstrap(ca.ctx(after(2 * DAY)), { force: true });
    const r = await rotateIntermediate(ca.ctx(after(3 * DAY)));
    expect(r.plan.newIntermediate).toBe(true);
    expect(r.reissued).toEqual([]);
  });
});

describe('bootstrap after a crash', () => {
  it('finishes a bootstrap that stopped after the root was recorded, keeping that root', async () => {
    const ca = await makeCa({ bootstrap: false });
    const custody = ca.store.custody;
    const failing = {
      ...ca.store,
      custody: {
        kind: custody.kind,
        open: custody.open.bind(custody),
        discard: custody.discard.bind(custody),
        describeKey: custody.describeKey.bind(custody),
        create: async (label: string, keyType: CertificateRecord['keyType']) => {
          if (label === 'intermediate') throw new Error('simulated crash');
          return custody.create(label, keyType);
        },
      },
    };
    await expect(bootstrap({ ...ca.ctx(), store: failing })).rejects.toThrow(/simulated crash/);
    const root = (await loadCaState(ca.store.registry)).root!;
    await expectCaError(issueClient(ca.ctx(ISSUE_AT), { clientId: 'a' }), 'notFound', /no issuing intermediate/);
    const r = await bootstrap(ca.ctx(ISSUE_AT));
    expect(r.action).toBe('resumed');
    expect(r.root!.serial).toBe(root.serial);
    expect(r.intermediate!.issuerSerial).toBe(root.serial);
    expect(parseCert(r.intermediate!.certificatePem).pec.subjectName.getField('CN')).toEqual(['Example Issuing CA G1']);
    expect(await ca.store.registry.list({ kind: 'root' })).toHaveLength(1);
    expect(serialsOf(ca.truststoreFile())).toEqual([r.intermediate!.serial, root.serial]);
  });
});

describe('issueClient', () => {
  it('issues, delivers the bundle, records the certificate', async () => {
    const ca = await makeCa();
    const r = await issueClient(ca.ctx(ISSUE_AT), { clientId: 'alpha' });
    expect(r.action).toBe('issued');
    expect(r.delivered.map((p) => p.slice(ca.bundleDir.length + 1)).sort()).toEqual(['alpha/alpha.crt', 'alpha/alpha.key', 'alpha/chain.pem']);
    const rec = await active(ca, 'alpha');
    expect(rec).toEqual(r.record);
    expect(rec.keyOrigin).toBe('generated');
    expect(ca.bundle('alpha').cert).toBe(rec.certificatePem);
  });

  it('twice is a conflict and changes nothing', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'alpha' });
    const unchanged = snapshot(ca);
    await expectCaError(issueClient(ca.ctx(after(2 * HOUR)), { clientId: 'alpha' }), 'conflict', /already has an active certificate/);
    unchanged();
  });

  it('--replace supersedes the old certificate with graceUntil = now + grace', async () => {
    const ca = await makeCa();
    const first = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'alpha' })).record!;
    const at = after(2 * HOUR);
    const r = await issueClient(ca.ctx(at), { clientId: 'alpha', replace: true });
    expect(r.action).toBe('replaced');
    expect(r.replacedSerial).toBe(first.serial);
    const old = (await ca.store.registry.get(first.serial))!;
    expect(old).toMatchObject({ status: 'superseded', supersededBy: r.record!.serial, supersededAt: at.toISOString(), graceUntil: new Date(at.getTime() + 7 * DAY).toISOString() });
    expect((await active(ca, 'alpha')).serial).toBe(r.record!.serial);
  });

  it('--replace never extends the old certificate: graceUntil = its notAfter when that is sooner', async () => {
    const ca = await makeCa();
    const first = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'alpha', validityDays: 3 })).record!;
    await issueClient(ca.ctx(after(2 * DAY)), { clientId: 'alpha', replace: true });
    expect((await ca.store.registry.get(first.serial))!.graceUntil).toBe(first.notAfter);
  });

  it('--replace with graceDays 0 ends the old certificate now', async () => {
    const ca = await makeCa({ policy: { graceDays: 0 } });
    const first = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'alpha' })).record!;
    const at = after(2 * HOUR);
    await issueClient(ca.ctx(at), { clientId: 'alpha', replace: true });
    expect((await ca.store.registry.get(first.serial))!.graceUntil).toBe(at.toISOString());
  });

  it('for a CSR key: keyOrigin csr, the CSR’s key certified, no private key delivered', async () => {
    const ca = await makeCa();
    const dir = tempDir('ops-csr');
    const keyPath = join(dir, 'k.pem');
    const csr = opensslOk(['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-384', '-nodes', '-keyout', keyPath, '-subj', '/CN=ignored']);
    const checked = checkCsr(csr);
    const r = await issueClient(ca.ctx(ISSUE_AT), { clientId: 'beta', csrPublicKeySpki: checked.publicKeySpki });
    expect(r.record!.keyOrigin).toBe('csr');
    expect(r.record!.keyType).toBe('ec-p384');
    expect(spkiOf(r.record!)).toBe(Buffer.from(checked.publicKeySpki).toString('base64'));
    expect(parseCert(r.record!.certificatePem).pec.subjectName.getField('CN')).toEqual(['beta']);
    expect(ca.bundle('beta').key).toBeUndefined();
    expect(r.delivered.some((p) => p.endsWith('.key'))).toBe(false);
    expect(readFileSync(keyPath, 'utf8')).toMatch(/PRIVATE KEY/);
  });
});

describe('revoke', () => {
  async function replacedClient(): Promise<{ ca: TestCa; first: CertificateRecord; second: CertificateRecord }> {
    const ca = await makeCa();
    const first = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'alpha' })).record!;
    const second = (await issueClient(ca.ctx(after(2 * HOUR)), { clientId: 'alpha', replace: true })).record!;
    return { ca, first, second };
  }

  it('by id revokes the active and the in-grace superseded certificate at once', async () => {
    const { ca, first, second } = await replacedClient();
    const at = after(3 * HOUR);
    const r = await revoke(ca.ctx(at), { clientId: 'alpha', reason: 'keyCompromise' });
    expect(r.revoked.map((x) => x.serial).sort()).toEqual([first.serial, second.serial].sort());
    expect(r.alreadyRevoked).toEqual([]);
    for (const rec of await clientRecords(ca, 'alpha')) expect(rec).toMatchObject({ status: 'revoked', revokedAt: at.toISOString(), revocationReason: 'keyCompromise' });
  });

  it('is idempotent: a second revoke changes nothing and reports what was already revoked', async () => {
    const { ca } = await replacedClient();
    await revoke(ca.ctx(after(3 * HOUR)), { clientId: 'alpha' });
    const unchanged = snapshot(ca);
    const again = await revoke(ca.ctx(after(4 * HOUR)), { clientId: 'alpha' });
    expect(again.revoked).toEqual([]);
    expect(again.alreadyRevoked).toHaveLength(2);
    unchanged();
  });

  it('by serial revokes only that certificate; the serial may be typed with colons and upper case', async () => {
    const { ca, first, second } = await replacedClient();
    const typed = second.serial.toUpperCase().match(/../g)!.join(':');
    const r = await revoke(ca.ctx(after(3 * HOUR)), { serial: typed });
    expect(r.revoked.map((x) => x.serial)).toEqual([second.serial]);
    expect((await ca.store.registry.get(first.serial))!.status).toBe('superseded');
    expect(r.revoked[0]!.revocationReason).toBe('unspecified');
  });

  it('an unknown client or serial is notFound and changes nothing', async () => {
    const { ca } = await replacedClient();
    const unchanged = snapshot(ca);
    await expectCaError(revoke(ca.ctx(), { clientId: 'nobody' }), 'notFound', /unknown client nobody/);
    await expectCaError(revoke(ca.ctx(), { serial: '7f'.repeat(16) }), 'notFound');
    unchanged();
  });

  it('by serial of a CA certificate is a usage error', async () => {
    const ca = await makeCa();
    const s = await loadCaState(ca.store.registry);
    const unchanged = snapshot(ca);
    await expectCaError(revoke(ca.ctx(), { serial: s.root!.serial }), 'usage', /CA certificate/);
    await expectCaError(revoke(ca.ctx(), { serial: s.issuing!.serial }), 'usage', /CA certificate/);
    unchanged();
  });

  it('needs exactly one of client id and serial', async () => {
    const ca = await makeCa();
    await expectCaError(revoke(ca.ctx(), {}), 'usage');
    await expectCaError(revoke(ca.ctx(), { clientId: 'a', serial: 'ab' }), 'usage');
  });
});

describe('rotateIntermediate', () => {
  async function caWithClients(): Promise<{ ca: TestCa; before: Map<string, CertificateRecord>; csrSpki: string }> {
    const ca = await makeCa();
    for (const id of ['a', 'b', 'c']) await issueClient(ca.ctx(ISSUE_AT), { clientId: id });
    const spki = csrKey();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'from-csr', csrPublicKeySpki: spki });
    const before = new Map((await clientRecords(ca)).map((r) => [r.clientId, r]));
    return { ca, before, csrSpki: spki.toString('base64') };
  }

  it('creates a new intermediate, publishes root + new + previous, re-issues every active client for the same key', async () => {
    const { ca, before } = await caWithClients();
    const prev = (await loadCaState(ca.store.registry)).issuing!;
    const r = await rotateIntermediate(ca.ctx(ROTATE_AT));
    expect(r.plan.newIntermediate).toBe(true);
    const s = await loadCaState(ca.store.registry);
    expect(s.issuing!.serial).toBe(r.intermediate!.serial);
    expect(s.previous.map((p) => p.serial)).toEqual([prev.serial]);
    expect((await ca.store.registry.get(prev.serial))!).toMatchObject({ status: 'superseded', supersededBy: r.intermediate!.serial });
    expect(serialsOf(ca.truststoreFile())).toEqual([r.intermediate!.serial, prev.serial, s.root!.serial]);
    expect(r.reissued.map((x) => x.clientId)).toEqual(['a', 'b', 'c', 'from-csr']);
    for (const [id, old] of before) {
      const now = await active(ca, id);
      expect(now.serial).not.toBe(old.serial);
      expect(now.issuerSerial).toBe(r.intermediate!.serial);
      expect(now.publicKey).toBe(old.publicKey);
      expect(spkiOf(now)).toBe(spkiOf(old));
      expect(now.keyOrigin).toBe(old.keyOrigin);
      expect((await ca.store.registry.get(old.serial))!).toMatchObject({
        status: 'superseded',
        supersededBy: now.serial,
        graceUntil: new Date(ROTATE_AT.getTime() + 7 * DAY).toISOString(),
      });
      expect(ca.bundle(id).cert).toBe(now.certificatePem);
    }
    expect(r.reissued.every((x) => !x.rekeyed)).toBe(true);
  });

  it('--rekey gives generated clients new keys and CSR clients keep theirs', async () => {
    const { ca, before, csrSpki } = await caWithClients();
    const r = await rotateIntermediate(ca.ctx(ROTATE_AT), { rekey: true });
    for (const [id, old] of before) {
      const now = await active(ca, id);
      if (id === 'from-csr') {
        expect(now.publicKey).toBe(csrSpki);
        expect(now.keyOrigin).toBe('csr');
      } else {
        expect(now.publicKey).not.toBe(old.publicKey);
        expect(now.keyOrigin).toBe('generated');
        // the delivered key belongs to the new certificate
        const files = ca.bundle(id);
        expect(parseCert(files.cert).node.checkPrivateKey((await import('node:crypto')).createPrivateKey(files.key!))).toBe(true);
      }
    }
    expect(Object.fromEntries(r.reissued.map((x) => [x.clientId, x.rekeyed]))).toEqual({ a: true, b: true, c: true, 'from-csr': false });
  });

  it('--dry-run changes nothing', async () => {
    const { ca } = await caWithClients();
    const unchanged = snapshot(ca);
    const r = await rotateIntermediate(ca.ctx(ROTATE_AT), { dryRun: true });
    expect(r.plan.newIntermediate).toBe(true);
    expect(r.plan.reissue).toHaveLength(4);
    unchanged();
  });

  it('an interrupted rotation is finished by the next call without a third intermediate', async () => {
    const { ca, before } = await caWithClients();
    const g1 = (await loadCaState(ca.store.registry)).issuing!;
    ca.sink.failAfter = ca.sink.delivered.length + 2;
    await expect(rotateIntermediate(ca.ctx(ROTATE_AT))).rejects.toThrow(/simulated crash/);
    const mid = await loadCaState(ca.store.registry);
    const g2 = mid.issuing!;
    expect(g2.serial).not.toBe(g1.serial);
    // the truststore already trusts the new intermediate before any client moved
    expect(serialsOf(ca.truststoreFile())).toEqual([g2.serial, g1.serial, mid.root!.serial]);
    for (const id of before.keys()) expect((await active(ca, id)).issuerSerial).toBe(g1.serial);

    // status says so, with what to run: a scheduled `ca status --check` fails on it
    const st = await status(ca.ctx(after(DAY + HOUR)));
    expect(st.unfinishedRotation).toEqual({ clients: before.size, under: [g1.serial] });
    expect(st.warnings.filter((w) => /rotation is unfinished/.test(w))).toEqual([`a rotation is unfinished: ${before.size} active clients still under the previous intermediate: run \`ca rotate-intermediate\` to finish it`]);

    ca.sink.failAfter = Infinity;
    const r = await rotateIntermediate(ca.ctx(after(DAY + HOUR)));
    expect(r.plan.newIntermediate).toBe(false);
    expect((await status(ca.ctx(after(DAY + HOUR)))).unfinishedRotation).toBeUndefined();
    expect(r.intermediate!.serial).toBe(g2.serial);
    expect(await ca.store.registry.list({ kind: 'intermediate' })).toHaveLength(2);
    for (const [id, old] of before) {
      const now = await active(ca, id);
      expect(now.issuerSerial).toBe(g2.serial);
      expect(now.publicKey).toBe(old.publicKey);
      expect((await clientRecords(ca, id)).filter((x) => x.status === 'active')).toHaveLength(1);
    }
    expect(serialsOf(ca.truststoreFile())).toEqual([g2.serial, g1.serial, mid.root!.serial]);

    // and the rotation after that is an ordinary one again
    const third = await rotateIntermediate(ca.ctx(after(2 * DAY)));
    expect(third.plan.newIntermediate).toBe(true);
  });
});

describe('rotateIntermediate near the end of the root', () => {
  // createCa clamps the intermediate's notAfter to the root's but never checks what is left: after the root
  // expired it records and publishes an intermediate whose notAfter is before its notBefore.
  it('refuses to create an intermediate under an expired root, changing nothing', async () => {
    const ca = await makeCa({ policy: { rootValidityDays: 10, intermediateValidityDays: 5 } });
    const unchanged = snapshot(ca);
    let err: unknown;
    try {
      const r = await rotateIntermediate(ca.ctx(after(11 * DAY)));
      err = `created ${r.intermediate?.notBefore} .. ${r.intermediate?.notAfter}`;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CaError);
    unchanged();
  });

  it('never records an intermediate whose validity ends before it starts', async () => {
    const ca = await makeCa({ policy: { rootValidityDays: 10, intermediateValidityDays: 5 } });
    await rotateIntermediate(ca.ctx(after(11 * DAY))).catch(() => undefined);
    for (const r of await ca.store.registry.list({ kind: 'intermediate' })) {
      expect(Date.parse(r.notAfter), `${r.subject}: ${r.notBefore} .. ${r.notAfter}`).toBeGreaterThan(Date.parse(r.notBefore));
    }
  });
});

describe('renew', () => {
  it('keeps the key, moves to the issuing intermediate, supersedes the old certificate', async () => {
    const ca = await makeCa();
    const old = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'alpha' })).record!;
    const oldKey = ca.bundle('alpha').key;
    const r = await renew(ca.ctx(after(10 * DAY)), { clientId: 'alpha' });
    const now = await active(ca, 'alpha');
    expect(r.renewed.map((x) => x.newSerial)).toEqual([now.serial]);
    expect(now.publicKey).toBe(old.publicKey);
    expect(Date.parse(now.notAfter)).toBe(after(10 * DAY).getTime() + 365 * DAY);
    expect((await ca.store.registry.get(old.serial))!.status).toBe('superseded');
    // the client keeps using its key: the bundle's key file is untouched and matches the new certificate
    expect(ca.bundle('alpha').key).toBe(oldKey);
    expect(ca.bundle('alpha').cert).toBe(now.certificatePem);
  });

  it('--all renews every active client; an unknown client is notFound', async () => {
    const ca = await makeCa();
    for (const id of ['x', 'y']) await issueClient(ca.ctx(ISSUE_AT), { clientId: id });
    const r = await renew(ca.ctx(after(2 * DAY)), { all: true });
    expect(r.renewed.map((x) => x.clientId)).toEqual(['x', 'y']);
    const unchanged = snapshot(ca);
    await expectCaError(renew(ca.ctx(), { clientId: 'nobody' }), 'notFound');
    unchanged();
  });
});

describe('retireIntermediate', () => {
  async function rotated(): Promise<{ ca: TestCa; prev: CertificateRecord; next: CertificateRecord }> {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'a' });
    const prev = (await loadCaState(ca.store.registry)).issuing!;
    const next = (await rotateIntermediate(ca.ctx(ROTATE_AT))).intermediate!;
    return { ca, prev, next };
  }

  it('refuses while certificates under it are in their grace period, unless --force', async () => {
    const { ca, prev, next } = await rotated();
    const unchanged = snapshot(ca);
    await expectCaError(retireIntermediate(ca.ctx(after(2 * DAY))), 'conflict', /grace period/);
    unchanged();
    const r = await retireIntermediate(ca.ctx(after(2 * DAY)), { force: true });
    expect(r.retired).toEqual([{ serial: prev.serial, subject: prev.subject, stillAccepted: 1 }]);
    expect((await ca.store.registry.get(prev.serial))!.status).toBe('retired');
    const s = await loadCaState(ca.store.registry);
    expect(serialsOf(ca.truststoreFile())).toEqual([next.serial, s.root!.serial]);
  });

  it('needs no --force once the grace period is over', async () => {
    const { ca, prev } = await rotated();
    const r = await retireIntermediate(ca.ctx(after(9 * DAY)), { serial: prev.serial });
    expect(r.retired.map((x) => x.serial)).toEqual([prev.serial]);
  });

  it('refuses, even with --force, while active clients remain under it (an interrupted rotation)', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'a' });
    ca.sink.failAfter = ca.sink.delivered.length;
    await expect(rotateIntermediate(ca.ctx(ROTATE_AT))).rejects.toThrow(/simulated crash/);
    const unchanged = snapshot(ca);
    await expectCaError(retireIntermediate(ca.ctx(ROTATE_AT), { force: true }), 'conflict', /active client/);
    unchanged();
  });

  it('the issuing intermediate is a usage error; nothing to retire is notFound', async () => {
    const ca = await makeCa();
    const s = await loadCaState(ca.store.registry);
    await expectCaError(retireIntermediate(ca.ctx(), { serial: s.issuing!.serial }), 'usage');
    await expectCaError(retireIntermediate(ca.ctx()), 'notFound');
  });
});

describe('syncTruststore', () => {
  it('auto-retires a previous intermediate once all its clients are past their grace period', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'a' });
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'b' });
    const prev = (await loadCaState(ca.store.registry)).issuing!;
    const next = (await rotateIntermediate(ca.ctx(ROTATE_AT))).intermediate!;
    const root = (await loadCaState(ca.store.registry)).root!;

    const early = await syncTruststore(ca.ctx(after(2 * DAY)));
    expect(early.retired).toEqual([]);
    expect(early.changed).toBe(false);
    expect(serialsOf(ca.truststoreFile())).toEqual([next.serial, prev.serial, root.serial]);

    const late = await syncTruststore(ca.ctx(after(9 * DAY)));
    expect(late.retired).toEqual([prev.serial]);
    expect(late.changed).toBe(true);
    expect((await ca.store.registry.get(prev.serial))!).toMatchObject({ status: 'retired', retiredAt: after(9 * DAY).toISOString() });
    expect(serialsOf(ca.truststoreFile())).toEqual([next.serial, root.serial]);
    expect(Number(late.state.version)).toBeGreaterThan(Number(early.state.version));

    const again = await syncTruststore(ca.ctx(after(10 * DAY)));
    expect(again).toMatchObject({ retired: [], changed: false });
  });

  it('keeps a previous intermediate while one superseded client of it is still in grace', async () => {
    const ca = await makeCa({ policy: { graceDays: 7 } });
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'a' });
    const prev = (await loadCaState(ca.store.registry)).issuing!;
    await rotateIntermediate(ca.ctx(ROTATE_AT));
    // exactly at graceUntil the old certificate is no longer accepted
    expect((await syncTruststore(ca.ctx(new Date(ROTATE_AT.getTime() + 7 * DAY - 1000)))).retired).toEqual([]);
    expect((await syncTruststore(ca.ctx(new Date(ROTATE_AT.getTime() + 7 * DAY)))).retired).toEqual([prev.serial]);
  });
});

describe('provision', () => {
  const entries = (...ids: string[]): ProvisionEntry[] => ids.map((clientId) => ({ clientId }));

  it('issues what is missing and skips what is present', async () => {
    const ca = await makeCa();
    const a = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'a' })).record!;
    const r = await provision(ca.ctx(after(2 * HOUR)), entries('a', 'b', 'c'));
    // each item carries its certificate (the CLI shows the full certificate object per --from item)
    expect(r.skipped).toMatchObject([{ clientId: 'a', serial: a.serial, record: { serial: a.serial, fingerprint: a.fingerprint } }]);
    expect(r.issued.map((x) => x.clientId)).toEqual(['b', 'c']);
    expect(r.issued.map((x) => x.record?.serial)).toEqual(r.issued.map((x) => x.serial));
    expect(r.pruned).toEqual([]);
    for (const id of ['a', 'b', 'c']) await active(ca, id);
    expect((await active(ca, 'a')).serial).toBe(a.serial);
  });

  it('honours key type, validity and CSR keys per entry', async () => {
    const ca = await makeCa();
    const spki = csrKey();
    await provision(ca.ctx(ISSUE_AT), [
      { clientId: 'rsa', keyType: 'rsa-2048', validityDays: 30 },
      { clientId: 'csr', csr: { publicKeySpki: spki, keyType: 'ec-p256' } },
    ]);
    const rsa = await active(ca, 'rsa');
    expect(rsa.keyType).toBe('rsa-2048');
    expect(Date.parse(rsa.notAfter)).toBe(ISSUE_AT.getTime() + 30 * DAY);
    const csr = await active(ca, 'csr');
    expect(csr).toMatchObject({ keyOrigin: 'csr', publicKey: spki.toString('base64') });
  });

  it('--prune revokes active clients no longer listed', async () => {
    const ca = await makeCa();
    await provision(ca.ctx(ISSUE_AT), entries('a', 'b', 'c'));
    const at = after(2 * HOUR);
    const r = await provision(ca.ctx(at), entries('a'), { prune: true });
    expect(r.pruned.map((x) => x.clientId)).toEqual(['b', 'c']);
    expect(r.issued).toEqual([]);
    for (const id of ['b', 'c']) {
      const [rec] = await clientRecords(ca, id);
      expect(rec).toMatchObject({ status: 'revoked', revokedAt: at.toISOString(), revocationReason: 'cessationOfOperation' });
    }
    await active(ca, 'a');
  });

  it('--prune revokes more clients than one atomic commit of the registry holds, in commits within its limits', async () => {
    const ca = await makeCa();
    const ids = Array.from({ length: 12 }, (_, i) => `p${i}`);
    await provision(ca.ctx(ISSUE_AT), entries(...ids));
    // a registry that holds 5 changes per atomic commit (DynamoDB holds 50)
    const commits: number[] = [];
    const reg = ca.store.registry;
    const small: CertificateRegistry = { limits: { maxAtomicChanges: 5 }, get: (s) => reg.get(s), list: (q) => reg.list(q), commit: (c, o) => (commits.push(c.length), reg.commit(c, o)) };
    const r = await provision({ ...ca.ctx(after(2 * HOUR)), store: { ...ca.store, registry: small } }, entries('p0'), { prune: true });
    expect(r.pruned).toHaveLength(11);
    expect(commits).toEqual([5, 5, 1]);
    for (const id of ids.slice(1)) expect((await clientRecords(ca, id))[0]!.status).toBe('revoked');
    await active(ca, 'p0');
  });

  it('--dry-run changes nothing', async () => {
    const ca = await makeCa();
    await provision(ca.ctx(ISSUE_AT), entries('a', 'b'));
    const unchanged = snapshot(ca);
    const r = await provision(ca.ctx(after(2 * HOUR)), entries('a', 'c'), { prune: true, dryRun: true });
    expect(r.issued.map((x) => x.clientId)).toEqual(['c']);
    expect(r.pruned.map((x) => x.clientId)).toEqual(['b']);
    unchanged();
  });

  it('a crash while staging records nothing, and a re-run issues everything', async () => {
    const ca = await makeCa();
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5'];
    ca.sink.failAfter = 2;
    await expect(provision(ca.ctx(ISSUE_AT), entries(...ids))).rejects.toThrow(/simulated crash/);
    expect(await clientRecords(ca)).toEqual([]);
    ca.sink.failAfter = Infinity;
    const r = await provision(ca.ctx(after(2 * HOUR)), entries(...ids));
    expect(r.issued.map((x) => x.clientId)).toEqual(ids);
    for (const id of ids) expect(ca.bundle(id).cert).toBe((await active(ca, id)).certificatePem);
  });

  it('commits once per chunk, in chunks that fill whole DynamoDB transactions: the planner\'s minimum for the whole file', async () => {
    const ca = await makeCa();
    // more than one chunk; CSR keys (one key for all) so that only signing is paid for
    const spki = csrKey();
    const n = 1050;
    const list: ProvisionEntry[] = Array.from({ length: n }, (_, i) => ({ clientId: `p${String(i).padStart(4, '0')}`, csr: { publicKeySpki: spki, keyType: 'ec-p256' } }));
    const reg = ca.store.registry;
    const commits: RegistryChange[][] = [];
    const counted: CertificateRegistry = { limits: reg.limits, get: (s) => reg.get(s), list: (q) => reg.list(q), commit: (c, o) => (commits.push(c), reg.commit(c, o)) };
    const r = await provision({ ...ca.ctx(ISSUE_AT), store: { ...ca.store, registry: counted } }, list);
    expect(r.issued).toHaveLength(n);
    // one commit per chunk, every chunk but the last a multiple of 49
    const chunk = provisionChunk(n);
    expect(commits.map((c) => c.length)).toEqual([...Array(Math.floor(n / chunk)).fill(chunk), ...(n % chunk ? [n % chunk] : [])]);
    expect(chunk % 49).toBe(0);
    // what the AWS store would send for these commits (each transaction with its audit event), against what it
    // would send for all of it at once
    const planned = commits.reduce((k, c) => k + planCommit('t', c, { audit: true }).length, 0);
    const all = planCommit('t', commits.flat(), { audit: true }).length;
    expect(all).toBe(Math.ceil(n / 49));
    expect(planned).toBe(all);
  });

  it('chunks about a tenth of the file (progress about ten times), in multiples of 49 (a transaction beside its audit event) from 98 to PROVISION_CHUNK', () => {
    expect(provisionChunk(1)).toBe(98);
    expect(provisionChunk(300)).toBe(98);
    expect(provisionChunk(1050)).toBe(147);
    expect(provisionChunk(2000)).toBe(245);
    expect(provisionChunk(10_000)).toBe(PROVISION_CHUNK);
    expect(provisionChunk(1_000_000)).toBe(PROVISION_CHUNK);
    for (const n of [1, 99, 501, 4321, 9999, 123_456]) expect(provisionChunk(n) % 49).toBe(0);
  });

  it('a crash in a later chunk keeps the chunks before it, and a re-run issues exactly the rest', async () => {
    const ca = await makeCa();
    const ids = ['c1', 'c2', 'c3', 'c4', 'c5'];
    // chunks of 2: the second chunk's staging fails, after the first chunk was recorded and published
    ca.sink.failAfter = 3;
    await expect(provision(ca.ctx(ISSUE_AT), entries(...ids), { chunkSize: 2 })).rejects.toThrow(/simulated crash/);
    expect((await clientRecords(ca)).map((r) => r.clientId).sort()).toEqual(['c1', 'c2']);
    for (const id of ['c1', 'c2']) expect(ca.bundle(id).cert).toBe((await active(ca, id)).certificatePem);
    expect(() => ca.bundle('c3')).toThrow(/ENOENT/);
    ca.sink.failAfter = Infinity;
    const r = await provision(ca.ctx(after(2 * HOUR)), entries(...ids), { chunkSize: 2 });
    expect(r.skipped.map((x) => x.clientId)).toEqual(['c1', 'c2']);
    expect(r.issued.map((x) => x.clientId)).toEqual(['c3', 'c4', 'c5']);
    for (const id of ids) {
      expect(await clientRecords(ca, id)).toHaveLength(1);
      expect(ca.bundle(id).cert).toBe((await active(ca, id)).certificatePem);
    }
  });

  it('a crash between commit and publish is completed by the next run, which issues only what is still missing', async () => {
    const ca = await makeCa();
    ca.sink.failPublish = true;
    await expect(provision(ca.ctx(ISSUE_AT), entries('c1', 'c2'))).rejects.toThrow(/simulated crash before publishing/);
    // recorded, and each generated key is durable in the staging area
    for (const id of ['c1', 'c2']) await active(ca, id);
    expect(() => ca.bundle('c1')).toThrow(/ENOENT/);
    ca.sink.failPublish = false;
    // the same file again: nothing left to issue, and the staged bundles are put in place
    const r = await provision(ca.ctx(after(2 * HOUR)), entries('c1', 'c2'));
    expect(r.skipped.map((x) => x.clientId)).toEqual(['c1', 'c2']);
    expect(r.issued).toEqual([]);
    for (const id of ['c1', 'c2']) expect(ca.bundle(id).cert).toBe((await active(ca, id)).certificatePem);
    await provision(ca.ctx(after(3 * HOUR)), entries('c1', 'c2', 'c3'));
    for (const id of ['c1', 'c2', 'c3']) {
      const rec = await active(ca, id);
      const files = ca.bundle(id);
      expect(files.cert).toBe(rec.certificatePem);
      expect(parseCert(files.cert).node.checkPrivateKey(createPrivateKey(files.key!))).toBe(true);
      expect(await clientRecords(ca, id)).toHaveLength(1);
    }
  });
});

describe('a failed command leaves the registry byte-equal', () => {
  it.each([
    ['bootstrap without --force (conflict)', (ca: TestCa) => bootstrap(ca.ctx(ISSUE_AT)), 'conflict'],
    ['issue for a client that has a certificate (conflict)', (ca: TestCa) => issueClient(ca.ctx(ISSUE_AT), { clientId: 'present' }), 'conflict'],
    ['issue with 0 days (invalidInput)', (ca: TestCa) => issueClient(ca.ctx(ISSUE_AT), { clientId: 'new', validityDays: 0 }), 'invalidInput'],
    ['issue with a path-like client id (invalidInput)', (ca: TestCa) => issueClient(ca.ctx(ISSUE_AT), { clientId: '../escape' }), 'invalidInput'],
    ['revoke of an unknown client (notFound)', (ca: TestCa) => revoke(ca.ctx(ISSUE_AT), { clientId: 'ghost' }), 'notFound'],
    ['renew of an unknown client (notFound)', (ca: TestCa) => renew(ca.ctx(ISSUE_AT), { clientId: 'ghost' }), 'notFound'],
    ['retire with nothing to retire (notFound)', (ca: TestCa) => retireIntermediate(ca.ctx(ISSUE_AT)), 'notFound'],
  ] as const)('%s', async (_name, run, code) => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'present' });
    const unchanged = snapshot(ca);
    await expectCaError(run(ca), code);
    unchanged();
  });

  it('an operation on a store without a CA is notFound and creates nothing', async () => {
    const ca = await makeCa({ bootstrap: false });
    await expectCaError(issueClient(ca.ctx(), { clientId: 'a' }), 'notFound', /no CA/);
    await expectCaError(rotateIntermediate(ca.ctx()), 'notFound', /no CA/);
    expect(() => ca.registryBytes()).toThrow(/ENOENT/);
  });
});

/** The CA's context with a registry whose commit fails: before applying (`before`), or after applying (a lost response). */
function failingCommit(ca: TestCa, at: Date, when: 'before' | 'after'): ReturnType<TestCa['ctx']> {
  const real = ca.store.registry;
  const registry: CertificateRegistry = {
    limits: real.limits,
    get: (serial) => real.get(serial),
    list: (q) => real.list(q),
    commit: async (changes: RegistryChange[], opts) => {
      if (when === 'after') await real.commit(changes, opts);
      throw storageError('simulated registry failure');
    },
  };
  return { ...ca.ctx(at), store: { ...ca.store, registry } };
}

const P12_PASSWORD = 'p12-unit-secret';
const withPassword = { password: async () => P12_PASSWORD };
const p12Path = (ca: TestCa, id: string) => join(ca.bundleDir, id, `${id}.p12`);
/** the client certificate and key in a bundle's .p12, read by OpenSSL */
function p12Contents(ca: TestCa, id: string): { cert: string; keySpki: string } {
  const cert = pemCerts(opensslOk(['pkcs12', '-in', p12Path(ca, id), '-nokeys', '-clcerts', '-passin', `pass:${P12_PASSWORD}`]))[0]!;
  const key = opensslOk(['pkcs12', '-in', p12Path(ca, id), '-nocerts', '-nodes', '-passin', `pass:${P12_PASSWORD}`]);
  return { cert, keySpki: createPublicKey(createPrivateKey(key)).export({ format: 'der', type: 'spki' }).toString('base64') };
}
const keySpkiOf = (pem: string) => createPublicKey(createPrivateKey(pem)).export({ format: 'der', type: 'spki' }).toString('base64');
/** every file of a bundle, to prove a refused command changed none */
function bundleBytes(ca: TestCa, id: string): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const n of [`${id}.crt`, `${id}.key`, 'chain.pem', `${id}.p12`]) {
    const p = join(ca.bundleDir, id, n);
    out[n] = existsSync(p) ? readFileSync(p).toString('base64') : undefined;
  }
  return out;
}

describe('a failed CA creation leaves no orphan key', () => {
  const keysOf = (ca: TestCa) => readdirSync(join(ca.storeDir, 'keys')).sort();
  /** The CA's store with its registry's commit replaced. */
  const withCommit = (ca: TestCa, commit: CertificateRegistry['commit']) => ({
    ...ca.store,
    registry: { limits: ca.store.registry.limits, get: ca.store.registry.get.bind(ca.store.registry), list: ca.store.registry.list.bind(ca.store.registry), commit },
  });
  const createsIntermediate = (changes: RegistryChange[]) => changes.some((c) => c.op === 'create' && c.record.kind === 'intermediate');

  it('a rotation whose commit of the new intermediate fails removes the key it created', async () => {
    const ca = await makeCa();
    const before = keysOf(ca);
    const store = withCommit(ca, async (changes, o) => {
      if (createsIntermediate(changes)) throw new CaError('storage', 'simulated: the disk is full');
      return ca.store.registry.commit(changes, o);
    });
    await expectCaError(rotateIntermediate({ ...ca.ctx(ROTATE_AT), store }), 'storage', /disk is full/);
    expect(keysOf(ca)).toEqual(before);
    expect((await loadCaState(ca.store.registry)).previous).toEqual([]);
  });

  it('a commit that failed after it landed keeps the key its record names', async () => {
    const ca = await makeCa();
    const before = keysOf(ca);
    const first = (await loadCaState(ca.store.registry)).issuing!;
    const store = withCommit(ca, async (changes, o) => {
      await ca.store.registry.commit(changes, o);
      // the answer is lost after the write: the new intermediate is recorded, so its key must stay
      if (createsIntermediate(changes)) throw new CaError('storage', 'simulated: connection reset after the write');
    });
    await expectCaError(rotateIntermediate({ ...ca.ctx(ROTATE_AT), store }), 'storage', /connection reset/);
    const issuing = (await loadCaState(ca.store.registry)).issuing!;
    expect(issuing.serial).not.toBe(first.serial);
    expect(keysOf(ca)).toEqual([...before, issuing.keyRef!.replace(/^keys\//, '')].sort());
    // and it signs: the next issuance uses it
    const issued = await issueClient(ca.ctx(ROTATE_AT), { clientId: 'after' });
    expect(issued.record!.issuerSerial).toBe(issuing.serial);
  });

  it('an intermediate whose signing fails leaves no key behind', async () => {
    const ca = await makeCa();
    const before = keysOf(ca);
    const custody = ca.store.custody;
    const store = {
      ...ca.store,
      custody: {
        kind: custody.kind,
        create: custody.create.bind(custody),
        discard: custody.discard.bind(custody),
        describeKey: custody.describeKey.bind(custody),
        open: async (keyRef: string, keyType: CertificateRecord['keyType']) => {
          const s = await custody.open(keyRef, keyType);
          return { keyType: s.keyType, publicKeySpki: s.publicKeySpki, sign: async () => Promise.reject(new CaError('storage', 'simulated: the signing service is down')) };
        },
      },
    };
    await expectCaError(rotateIntermediate({ ...ca.ctx(ROTATE_AT), store }), 'storage', /signing service is down/);
    expect(keysOf(ca)).toEqual(before);
  });
});

describe('bundles follow the registry (stage, record, publish)', () => {
  it('a renew whose registry commit fails leaves the working bundle in place', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'c1' });
    const before = bundleBytes(ca, 'c1');
    const unchanged = snapshot(ca);
    await expectCaError(renew(failingCommit(ca, after(2 * DAY), 'before'), { clientId: 'c1' }), 'storage', /simulated registry failure/);
    unchanged();
    expect(bundleBytes(ca, 'c1')).toEqual(before);
    expect(existsSync(join(ca.bundleDir, '.staged')), 'the staged copy is removed').toBe(false);
  });

  it('an issue whose commit fails leaves the working bundle of the replaced certificate in place', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'c1' });
    const before = bundleBytes(ca, 'c1');
    await expectCaError(issueClient(failingCommit(ca, after(2 * DAY), 'before'), { clientId: 'c1', replace: true }), 'storage');
    expect(bundleBytes(ca, 'c1')).toEqual(before);
  });

  it('a commit that applied although it reported a failure still puts the bundle in place: the generated key is not lost', async () => {
    const ca = await makeCa();
    await expectCaError(issueClient(failingCommit(ca, ISSUE_AT, 'after'), { clientId: 'c1' }), 'storage');
    const rec = await active(ca, 'c1');
    const files = ca.bundle('c1');
    expect(files.cert).toBe(rec.certificatePem);
    expect(keySpkiOf(files.key!)).toBe(rec.publicKey);
  });

  it('a crash between commit and publish is completed by the next run', async () => {
    const ca = await makeCa();
    const old = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'c1' })).record!;
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'c2' });
    const oldFiles = ca.bundle('c1');
    ca.sink.failPublish = true;
    await expect(rotateIntermediate(ca.ctx(ROTATE_AT), { rekey: true })).rejects.toThrow(/simulated crash before publishing/);
    ca.sink.failPublish = false;
    // recorded; until the next run the client keeps its old bundle, whose certificate is in its grace period
    const next = await active(ca, 'c1');
    expect(next.serial).not.toBe(old.serial);
    expect(ca.bundle('c1')).toEqual(oldFiles);
    expect((await ca.store.registry.get(old.serial))!.status).toBe('superseded');
    // the next issuing command (here for another client) puts the staged bundles in place first
    await issueClient(ca.ctx(after(DAY + HOUR)), { clientId: 'c3' });
    for (const id of ['c1', 'c2']) {
      const rec = await active(ca, id);
      const files = ca.bundle(id);
      expect(files.cert).toBe(rec.certificatePem);
      expect(keySpkiOf(files.key!), 'the new key beside the new certificate').toBe(rec.publicKey);
    }
    expect(existsSync(join(ca.bundleDir, '.staged'))).toBe(false);
  });
});

describe('bundles with a .p12', () => {
  async function p12Client(): Promise<TestCa> {
    const ca = await makeCa();
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'p1', pkcs12Password: P12_PASSWORD });
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'plain' });
    expect(p12Contents(ca, 'p1').cert).toBe(ca.bundle('p1').cert);
    return ca;
  }

  it('renew rewrites the .p12 with the new certificate', async () => {
    const ca = await p12Client();
    const key = ca.bundle('p1').key!;
    await renew(ca.ctx(after(2 * DAY)), { clientId: 'p1', pkcs12: withPassword });
    const rec = await active(ca, 'p1');
    expect(ca.bundle('p1').cert).toBe(rec.certificatePem);
    expect(ca.bundle('p1').key).toBe(key);
    const p12 = p12Contents(ca, 'p1');
    expect(p12.cert).toBe(rec.certificatePem);
    expect(p12.keySpki).toBe(keySpkiOf(key));
  });

  it('renew of a bundle with a .p12 and no password is refused and changes nothing', async () => {
    const ca = await p12Client();
    const before = bundleBytes(ca, 'p1');
    const unchanged = snapshot(ca);
    const e = await expectCaError(renew(ca.ctx(after(2 * DAY)), { all: true }), 'usage', /p1/);
    expect(e.hint).toMatch(/CA_P12_PASSWORD or --p12-password-file/);
    expect(e.hint).toMatch(/--drop-p12/);
    unchanged();
    expect(bundleBytes(ca, 'p1')).toEqual(before);
  });

  it('renew with --drop-p12 removes the .p12 and rewrites the rest', async () => {
    const ca = await p12Client();
    await renew(ca.ctx(after(2 * DAY)), { clientId: 'p1', pkcs12: { drop: true } });
    expect(existsSync(p12Path(ca, 'p1'))).toBe(false);
    expect(ca.bundle('p1').cert).toBe((await active(ca, 'p1')).certificatePem);
  });

  it('a .p12 whose key is missing cannot be rebuilt: refused, naming --drop-p12, nothing changed', async () => {
    const ca = await p12Client();
    const { rmSync } = await import('node:fs');
    rmSync(join(ca.bundleDir, 'p1', 'p1.key'));
    const unchanged = snapshot(ca);
    const e = await expectCaError(renew(ca.ctx(after(2 * DAY)), { clientId: 'p1', pkcs12: withPassword }), 'invalidInput', /no private key/);
    expect(e.hint).toMatch(/--drop-p12/);
    unchanged();
  });

  it('--rekey rewrites the .p12 with the new key', async () => {
    const ca = await p12Client();
    const old = await active(ca, 'p1');
    await rotateIntermediate(ca.ctx(ROTATE_AT), { rekey: true, pkcs12: withPassword });
    const rec = await active(ca, 'p1');
    expect(rec.publicKey).not.toBe(old.publicKey);
    const files = ca.bundle('p1');
    expect(keySpkiOf(files.key!)).toBe(rec.publicKey);
    const p12 = p12Contents(ca, 'p1');
    expect(p12.cert).toBe(rec.certificatePem);
    expect(p12.keySpki).toBe(rec.publicKey);
    expect(existsSync(p12Path(ca, 'plain')), 'a bundle without one gets none').toBe(false);
  });

  it('a rotation with a .p12 and no password is refused before the new intermediate is made', async () => {
    const ca = await p12Client();
    const unchanged = snapshot(ca);
    const before = bundleBytes(ca, 'p1');
    await expectCaError(rotateIntermediate(ca.ctx(ROTATE_AT)), 'usage', /\.p12/);
    unchanged();
    expect(await ca.store.registry.list({ kind: 'intermediate' })).toHaveLength(1);
    expect(bundleBytes(ca, 'p1')).toEqual(before);
  });

  it('issue --replace of a bundle with a .p12 needs a new one or --drop-p12', async () => {
    const ca = await p12Client();
    const unchanged = snapshot(ca);
    const e = await expectCaError(issueClient(ca.ctx(after(2 * HOUR)), { clientId: 'p1', replace: true }), 'usage', /\.p12/);
    expect(e.hint).toMatch(/--p12.*--drop-p12/);
    unchanged();
    await issueClient(ca.ctx(after(2 * HOUR)), { clientId: 'p1', replace: true, pkcs12Password: P12_PASSWORD });
    const rec = await active(ca, 'p1');
    expect(p12Contents(ca, 'p1')).toEqual({ cert: rec.certificatePem, keySpki: rec.publicKey });
    await issueClient(ca.ctx(after(3 * HOUR)), { clientId: 'p1', replace: true, dropPkcs12: true });
    expect(existsSync(p12Path(ca, 'p1'))).toBe(false);
  });
});

describe('retireIntermediate and the bundles', () => {
  it('refuses while a bundle still holds a certificate from the intermediate, and names it with --force', async () => {
    const ca = await makeCa();
    const old = (await issueClient(ca.ctx(ISSUE_AT), { clientId: 'a' })).record!;
    await issueClient(ca.ctx(ISSUE_AT), { clientId: 'b' });
    const prev = (await loadCaState(ca.store.registry)).issuing!;
    await rotateIntermediate(ca.ctx(ROTATE_AT));
    // a's bundle was put back from a copy made before the rotation
    writeFileSync(join(ca.bundleDir, 'a', 'a.crt'), old.certificatePem);
    const unchanged = snapshot(ca);
    await expectCaError(retireIntermediate(ca.ctx(after(9 * DAY))), 'conflict', /1 bundle\(s\) still hold a certificate .*\(a\)/);
    unchanged();
    const r = await retireIntermediate(ca.ctx(after(9 * DAY)), { force: true });
    expect(r.retired.map((x) => x.serial)).toEqual([prev.serial]);
    expect(r.staleBundles).toEqual([{ clientId: 'a', serial: old.serial, issuerSerial: prev.serial }]);
  });
});

describe('a bootstrap killed between publishing a truststore version and writing truststore.pem', () => {
  it('is finished by the re-run, which writes truststore.pem instead of refusing an existing CA', async () => {
    const { rmSync } = await import('node:fs');
    const ca = await makeCa();
    // the version is published (truststore-versions/1.pem), the served copy not yet
    rmSync(ca.store.truststorePath);
    const r = await bootstrap(ca.ctx());
    expect(r.action).toBe('resumed');
    expect(ca.truststoreFile()).toContain('BEGIN CERTIFICATE');
    expect(await ca.store.truststore.drift()).toEqual([]);
    // and a complete CA is refused as before
    await expectCaError(bootstrap(ca.ctx()), 'conflict', /a CA already exists/);
  });
});
