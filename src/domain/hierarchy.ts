import type { CertificateRecord, RegistryChange, TruststoreState } from '../ports.js';
import { isStillAccepted, loadCaState, openSigner, requireCa, rotationUnfinished, trustedIntermediates, type CaState } from './ca-state.js';
import { formatSubject } from './certificate.js';
import { CertificateTemplate } from './template.js';
import { INTERMEDIATE, ROOT } from './profiles.js';
import { sha256Hex } from './keys.js';
import type { OperationContext } from './context.js';
import { conflict, invalidInput, notFound, usageError } from './errors.js';
import { openIssuer, planBundles, preflightDelivery, reissueClients, type Pkcs12Choice, type ReissueResult } from './issuance.js';
import { BACKDATE_MS, DAY_MS } from './policy.js';
import { randomSerial } from './serial.js';
import { buildTruststore, sameTruststore } from './truststore.js';
import { pemBlocks, toPem } from './der.js';

const sec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);

/** Creates a CA key in custody and its certificate: the root (self-signed) or an intermediate under `parent`. */
async function createCa(
  ctx: OperationContext,
  kind: 'root' | 'intermediate',
  generation: number,
  parent?: CertificateRecord,
): Promise<CertificateRecord> {
  const now = ctx.clock.now();
  const p = ctx.policy;
  if (parent && Date.parse(parent.notAfter) - now.getTime() < DAY_MS) {
    // RFC 5280 path validation: a CA certificate cannot outlive its issuer; one that would be born expired is refused.
    throw invalidInput(`the root CA expires on ${parent.notAfter}: too soon to create an intermediate under it`, 'replace the CA with `ca bootstrap --force`');
  }
  // The parent's key is opened (and checked against its certificate) before a new key exists: a missing or
  // swapped parent key must not leave an orphan key behind.
  const parentSigner = parent ? await openSigner(ctx.store.custody, parent) : undefined;
  const { keyRef, signer } = await ctx.store.custody.create(kind, p.caKeyType);
  const days = kind === 'root' ? p.rootValidityDays : p.intermediateValidityDays;
  const notBefore = sec(Math.max(now.getTime() - BACKDATE_MS, parent ? Date.parse(parent.notBefore) : 0));
  const notAfter = sec(Math.min(now.getTime() + days * DAY_MS, parent ? Date.parse(parent.notAfter) : Infinity));
  const serial = randomSerial();
  const commonName = kind === 'root' ? `${p.caName} Root CA` : `${p.caName} Issuing CA G${generation}`;
  const issuerSigner = parentSigner ?? signer;
  let cert: { pem: string; fingerprint: string; subject: string };
  try {
    const template = new CertificateTemplate(parent ? pemBlocks(parent.certificatePem, 'CERTIFICATE')[0] : undefined, issuerSigner.keyType);
    const subject = { commonName, organization: p.organization };
    const tbs = template.tbs(kind === 'root' ? ROOT : INTERMEDIATE, { serial, subject, notBefore, notAfter, publicKeySpki: signer.publicKeySpki });
    const der = template.certificate(tbs, await issuerSigner.sign(tbs));
    cert = { pem: toPem('CERTIFICATE', der), fingerprint: sha256Hex(der), subject: formatSubject(subject) };
  } catch (e) {
    // nothing records the new key yet: remove it rather than leave an orphan
    await discardKey(ctx, keyRef);
    throw e;
  }
  return {
    serial,
    kind,
    clientId: kind,
    status: 'active',
    fingerprint: cert.fingerprint,
    subject: cert.subject,
    issuer: parent ? parent.subject : cert.subject,
    ...(parent ? { issuerSerial: parent.serial } : {}),
    notBefore: notBefore.toISOString(),
    notAfter: notAfter.toISOString(),
    keyType: p.caKeyType,
    publicKey: Buffer.from(signer.publicKeySpki).toString('base64'),
    keyOrigin: 'ca',
    keyRef,
    validityDays: days,
    // the root carries the CA profile: every later operation issues with it (see profile.ts)
    ...(kind === 'root' ? { profile: { ...p } } : {}),
    certificatePem: cert.pem,
    createdAt: now.toISOString(),
  };
}

/**
 * The failure handler of the commit that records a CA certificate createCa made: when the record is not in
 * the registry, nothing refers to the new key and it is discarded. After an ambiguous failure the commit may
 * have landed, so the registry is asked first, and a key whose record might exist is kept.
 */
const discardIfUnrecorded = (ctx: OperationContext, ca: CertificateRecord) => async (e: unknown): Promise<never> => {
  const recorded = await ctx.store.registry.get(ca.serial).then(
    (r) => r !== undefined,
    () => true,
  );
  if (!recorded) await discardKey(ctx, ca.keyRef!);
  throw e;
};

/** Removes a new CA key nothing records; a failure to do so is a warning, the command's own error is what counts. */
async function discardKey(ctx: OperationContext, keyRef: string): Promise<void> {
  try {
    await ctx.store.custody.discard(keyRef);
  } catch (e) {
    ctx.warn?.(`could not remove the unused CA key ${ctx.store.custody.describeKey(keyRef)}: ${(e as Error).message}`);
  }
}

export interface TruststoreSyncResult {
  state: TruststoreState;
  changed: boolean;
  warnings: string[];
  /** intermediates retired because nothing they issued is accepted any more */
  retired: string[];
}

/**
 * Brings the published truststore in line with the registry. A superseded intermediate under which no
 * client certificate is still accepted (expired, past its grace period, or revoked) is retired first.
 */
export async function syncTruststore(ctx: OperationContext, o: { dryRun?: boolean } = {}): Promise<TruststoreSyncResult & { dryRun?: boolean }> {
  const now = ctx.clock.now();
  let state = await loadCaState(ctx.store.registry);
  const retired: string[] = [];
  if (state.previous.length > 0) {
    const clients = await ctx.store.registry.list({ kind: 'client' });
    const changes: RegistryChange[] = [];
    for (const inter of state.previous) {
      const inUse = clients.some((c) => c.issuerSerial === inter.serial && isStillAccepted(c, now));
      if (!inUse) {
        changes.push({ op: 'update', expect: 'superseded', record: { ...inter, status: 'retired', retiredAt: now.toISOString() } });
        retired.push(inter.serial);
      }
    }
    if (changes.length && o.dryRun) {
      state = { ...state, previous: state.previous.filter((p) => !retired.includes(p.serial)) };
    } else if (changes.length) {
      await ctx.store.registry.commit(changes, { atomic: true });
      state = await loadCaState(ctx.store.registry);
    }
  }
  if (o.dryRun) {
    // what a publication would do: a new version when the content differs, else nothing (a repair, if drifted)
    const want = buildTruststore(state);
    const cur = await ctx.store.truststore.current();
    const changed = !cur || !sameTruststore(cur.pem, want);
    return { state: changed ? { pem: want, version: cur ? 'next' : 'first' } : cur!, changed, warnings: [], retired, dryRun: true };
  }
  const r = await ctx.store.truststore.sync(buildTruststore(state));
  return { ...r, retired };
}

export interface BootstrapOptions {
  force?: boolean;
  dryRun?: boolean;
}

export interface BootstrapResult {
  action: 'created' | 'resumed' | 'replaced' | 'would-create' | 'would-resume' | 'would-replace';
  root?: CertificateRecord;
  intermediate?: CertificateRecord;
  truststore?: TruststoreSyncResult;
  /** serials of CA certificates retired by --force */
  replaced: string[];
}

/**
 * Creates the root CA and the first issuing intermediate, records them and publishes the truststore.
 * Finishes a bootstrap that stopped midway. Refuses an existing CA unless `force`.
 * @throws CaError conflict when a CA exists and `force` is not set
 */
export async function bootstrap(ctx: OperationContext, o: BootstrapOptions = {}): Promise<BootstrapResult> {
  const state = await loadCaState(ctx.store.registry);
  const complete = !!(state.root && state.issuing);
  if (complete && !o.force) {
    // A bootstrap that recorded the CA but stopped before publishing is finished, not refused.
    const published = await ctx.store.truststore.current();
    if (!published || !sameTruststore(published.pem, buildTruststore(state))) {
      if (o.dryRun) return { action: 'would-resume', root: state.root, intermediate: state.issuing, replaced: [] };
      const truststore = await syncTruststore(ctx);
      return { action: 'resumed', root: state.root, intermediate: state.issuing, truststore, replaced: [] };
    }
    throw conflict(`a CA already exists in ${ctx.store.describe()} (root serial ${state.root!.serial})`, 'use --force to replace it: every certificate it issued stops being trusted');
  }
  const replacing = !!o.force && !!state.root;
  const resuming = !replacing && !!state.root;
  if (o.dryRun) {
    return { action: replacing ? 'would-replace' : resuming ? 'would-resume' : 'would-create', root: resuming ? state.root : undefined, replaced: replacing ? caSerials(state) : [] };
  }
  const replaced: string[] = [];
  if (replacing) {
    const now = ctx.clock.now().toISOString();
    const changes: RegistryChange[] = state.all
      .filter((r) => r.status !== 'retired')
      .map((r) => ({ op: 'update', expect: r.status, record: { ...r, status: 'retired', retiredAt: now } }) as RegistryChange);
    await ctx.store.registry.commit(changes, { atomic: true });
    replaced.push(...changes.map((c) => c.record.serial));
  }
  // Clients of a replaced CA are revoked so that nothing (renew, rotation, the authorizer) treats them as live.
  const orphans = (await ctx.store.registry.list({ kind: 'client' })).filter(
    (c) => (c.status === 'active' || c.status === 'superseded') && !(state.root && !replacing && trustedIntermediates(state).some((i) => i.serial === c.issuerSerial)),
  );
  if (orphans.length) {
    const at = ctx.clock.now().toISOString();
    await ctx.store.registry.commit(
      orphans.map((c) => ({ op: 'update', expect: c.status, record: { ...c, status: 'revoked', revokedAt: at, revocationReason: 'cessationOfOperation' } }) as RegistryChange),
    );
  }
  let root = resuming ? state.root! : undefined;
  if (!root) {
    root = await createCa(ctx, 'root', 0);
    await ctx.store.registry.commit([{ op: 'create', record: root }], { atomic: true }).catch(discardIfUnrecorded(ctx, root));
  }
  const generation = (await ctx.store.registry.list({ kind: 'intermediate' })).filter((i) => i.issuerSerial === root!.serial).length + 1;
  const intermediate = await createCa(ctx, 'intermediate', generation, root);
  await ctx.store.registry.commit([{ op: 'create', record: intermediate }], { atomic: true }).catch(discardIfUnrecorded(ctx, intermediate));
  const truststore = await syncTruststore(ctx);
  return { action: replacing ? 'replaced' : resuming ? 'resumed' : 'created', root, intermediate, truststore, replaced };
}

function caSerials(s: CaState): string[] {
  return s.all.filter((r) => r.status !== 'retired').map((r) => r.serial);
}

export interface RotateOptions {
  rekey?: boolean;
  dryRun?: boolean;
  /** what to do with bundles that hold a PKCS#12 (see planBundles) */
  pkcs12?: Pkcs12Choice;
}

export interface RotatePlan {
  /** false when an interrupted rotation is being finished */
  newIntermediate: boolean;
  previousIntermediate: CertificateRecord;
  reissue: CertificateRecord[];
}

export interface RotateResult {
  dryRun: boolean;
  plan: { newIntermediate: boolean; previousIntermediate: string; reissue: { clientId: string; serial: string }[] };
  intermediate?: CertificateRecord;
  reissued: ReissueResult[];
  truststore?: TruststoreSyncResult;
}

/** What a rotation would do now: a pure function of the registry's state. */
export function planRotation(state: CaState & { issuing: CertificateRecord }, clients: CertificateRecord[], now: Date): RotatePlan {
  const trusted = new Set(trustedIntermediates(state).map((i) => i.serial));
  const accepted = clients.filter((c) => c.status === 'active' && isStillAccepted(c, now) && trusted.has(c.issuerSerial ?? ''));
  // Active clients still under an older, still trusted intermediate mean a rotation stopped midway: finish it first.
  const pending = accepted.filter((c) => c.issuerSerial !== state.issuing.serial);
  // So does an issuing intermediate whose rotation never recorded its end, even with no client left to move: it
  // stopped after its last client (or had none), and starting over would add an intermediate nobody asked for.
  const newIntermediate = pending.length === 0 && !rotationUnfinished(state.issuing);
  return {
    newIntermediate,
    previousIntermediate: state.issuing,
    reissue: (newIntermediate ? accepted : pending).sort((a, b) => a.clientId.localeCompare(b.clientId)),
  };
}

/**
 * Zero-downtime rotation: a new intermediate signed by the root; the truststore holds root, new and previous
 * intermediates before any client moves; every active client is re-issued for its existing key (or a new one
 * with `rekey` where the tool generated it), its old certificate accepted for the grace period.
 */
export async function rotateIntermediate(ctx: OperationContext, o: RotateOptions = {}): Promise<RotateResult> {
  const state = await requireCa(ctx.store.registry);
  const clients = await ctx.store.registry.list({ kind: 'client', status: 'active' });
  const plan = planRotation(state, clients, ctx.clock.now());
  const summary = {
    newIntermediate: plan.newIntermediate,
    previousIntermediate: plan.previousIntermediate.serial,
    reissue: plan.reissue.map((c) => ({ clientId: c.clientId, serial: c.serial })),
  };
  if (o.dryRun) return { dryRun: true, plan: summary, reissued: [] };
  // What can be checked is checked before the first write (a new key, a record, the truststore): the key that
  // signs next belongs to its certificate, and the bundle destination accepts files.
  await openSigner(ctx.store.custody, plan.newIntermediate ? state.root : state.issuing);
  await preflightDelivery(ctx);
  // what the bundles need (a PKCS#12 password, or --drop-p12) is settled before the first write
  const bundles = await planBundles(ctx, plan.reissue, { rekey: o.rekey, pkcs12: o.pkcs12 });
  let intermediate = state.issuing;
  if (plan.newIntermediate) {
    const generation = (await ctx.store.registry.list({ kind: 'intermediate' })).filter((i) => i.issuerSerial === state.root.serial).length + 1;
    intermediate = { ...(await createCa(ctx, 'intermediate', generation, state.root)), rotatedFrom: state.issuing.serial };
    await ctx.store.registry.commit(
      [
        { op: 'update', expect: 'active', record: { ...state.issuing, status: 'superseded', supersededBy: intermediate.serial, supersededAt: ctx.clock.now().toISOString() } },
        { op: 'create', record: intermediate },
      ],
      { atomic: true },
    ).catch(discardIfUnrecorded(ctx, intermediate));
  }
  // Publish root + new + previous before any client gets a certificate from the new intermediate.
  const before = await ctx.store.truststore.sync(buildTruststore(await loadCaState(ctx.store.registry)));
  const issuer = await openIssuer(ctx);
  const reissued = await reissueClients(ctx, issuer, plan.reissue, { rekey: o.rekey, bundles });
  const after = await syncTruststore(ctx);
  // the run published a new version if either publication did (the first one, before any client moved, usually)
  const truststore = { ...after, changed: before.changed || after.changed, warnings: [...new Set([...before.warnings, ...after.warnings])] };
  // The rotation's last write: a crash before it leaves the rotation unfinished, and the re-run finishes it.
  if (rotationUnfinished(intermediate)) {
    intermediate = { ...intermediate, rotationCompletedAt: ctx.clock.now().toISOString() };
    await ctx.store.registry.commit([{ op: 'update', expect: 'active', record: intermediate }], { atomic: true });
  }
  return { dryRun: false, plan: summary, intermediate, reissued, truststore };
}

export interface RetireOptions {
  serial?: string;
  force?: boolean;
  dryRun?: boolean;
}

export interface RetireResult {
  dryRun: boolean;
  retired: { serial: string; subject: string; stillAccepted: number }[];
  /** bundles that still hold a (not revoked, not expired) certificate from a retired intermediate: their holders are locked out */
  staleBundles: { clientId: string; serial: string; issuerSerial: string }[];
  truststore?: TruststoreSyncResult;
}

/**
 * The bundles (at ctx.sink) that still hold a certificate issued by one of `intermediates`, neither revoked nor
 * expired: a client given that bundle is locked out once the intermediate leaves the truststore.
 */
async function bundlesUnder(ctx: OperationContext, intermediates: Set<string>, clients: CertificateRecord[], now: Date): Promise<RetireResult['staleBundles']> {
  if (!ctx.sink) return [];
  const byFingerprint = new Map(
    clients.filter((c) => intermediates.has(c.issuerSerial ?? '') && c.status !== 'revoked' && Date.parse(c.notAfter) > now.getTime()).map((c) => [c.fingerprint, c]),
  );
  if (!byFingerprint.size) return [];
  const ids = [...new Set([...byFingerprint.values()].map((c) => c.clientId))].sort();
  const stale: RetireResult['staleBundles'] = [];
  for (const d of await ctx.sink.describe(ids, { certificate: true })) {
    const der = d.certificatePem ? pemBlocks(d.certificatePem, 'CERTIFICATE')[0] : undefined;
    const r = der && byFingerprint.get(sha256Hex(der));
    if (r) stale.push({ clientId: d.clientId, serial: r.serial, issuerSerial: r.issuerSerial! });
  }
  return stale;
}

/**
 * Removes previous intermediates from the truststore. Refuses one that still has active client certificates;
 * one whose superseded certificates are still in their grace period, or whose certificates a bundle still holds
 * (a client given it is locked out), needs `force`.
 */
export async function retireIntermediate(ctx: OperationContext, o: RetireOptions = {}): Promise<RetireResult> {
  const state = await requireCa(ctx.store.registry);
  const now = ctx.clock.now();
  let targets = state.previous;
  if (o.serial) {
    if (o.serial === state.issuing.serial) throw usageError('that is the issuing intermediate', 'rotate first: `ca rotate-intermediate`');
    targets = state.previous.filter((p) => p.serial === o.serial);
    if (!targets.length) throw notFound(`no previous intermediate with serial ${o.serial}`, 'see `ca status`');
  }
  if (!targets.length) throw notFound('there is no previous intermediate to retire', 'see `ca status`');
  const clients = await ctx.store.registry.list({ kind: 'client' });
  const retired = targets.map((t) => {
    const under = clients.filter((c) => c.issuerSerial === t.serial && isStillAccepted(c, now));
    const active = under.filter((c) => c.status === 'active');
    if (active.length) throw conflict(`intermediate ${t.serial} still has ${active.length} active client certificate(s)`, 'finish the rotation first: `ca rotate-intermediate`');
    if (under.length && !o.force) {
      throw conflict(`intermediate ${t.serial} has ${under.length} superseded certificate(s) still in their grace period; retiring it locks those clients out now`, 'wait for the grace period to end, or add --force');
    }
    return { serial: t.serial, subject: t.subject, stillAccepted: under.length, record: t };
  });
  const staleBundles = await bundlesUnder(ctx, new Set(retired.map((r) => r.serial)), clients, now);
  if (staleBundles.length && !o.force) {
    const ids = staleBundles.map((b) => b.clientId);
    throw conflict(
      `${ids.length} bundle(s) still hold a certificate from the intermediate being retired (${ids.slice(0, 5).join(', ')}${ids.length > 5 ? ', …' : ''}); retiring it locks their holders out`,
      'renew them (`ca renew <id>`) and hand over the new bundles, or add --force',
    );
  }
  if (o.dryRun) return { dryRun: true, retired: retired.map(({ record, ...r }) => r), staleBundles };
  await ctx.store.registry.commit(
    retired.map((r) => ({ op: 'update', expect: 'superseded', record: { ...r.record, status: 'retired', retiredAt: now.toISOString() } })),
    { atomic: true },
  );
  const truststore = await syncTruststore(ctx);
  return { dryRun: false, retired: retired.map(({ record, ...r }) => r), staleBundles, truststore };
}
