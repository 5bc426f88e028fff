import type { CertificateRecord, RegistryChange, TruststoreState } from '../ports.js';
import { isStillAccepted, loadCaState, openSigner, requireCa, rotationUnfinished, trustedIntermediates, type CaState } from './ca-state.js';
import { issueCertificate } from './certificate.js';
import type { OperationContext } from './context.js';
import { conflict, invalidInput, notFound, usageError } from './errors.js';
import { openIssuer, reissueClients, type ReissueResult } from './issuance.js';
import { BACKDATE_MS, DAY_MS } from './policy.js';
import { randomSerial } from './serial.js';
import { buildTruststore, sameTruststore } from './truststore.js';
import { pemBlocks } from './der.js';

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
  const { keyRef, signer } = await ctx.store.custody.create(kind, p.caKeyType);
  const days = kind === 'root' ? p.rootValidityDays : p.intermediateValidityDays;
  const notBefore = sec(Math.max(now.getTime() - BACKDATE_MS, parent ? Date.parse(parent.notBefore) : 0));
  const notAfter = sec(Math.min(now.getTime() + days * DAY_MS, parent ? Date.parse(parent.notAfter) : Infinity));
  const serial = randomSerial();
  const commonName = kind === 'root' ? `${p.caName} Root CA` : `${p.caName} Issuing CA G${generation}`;
  const issuerSigner = parent ? await openSigner(ctx.store.custody, parent) : signer;
  const cert = await issueCertificate(
    {
      kind,
      serial,
      subject: { commonName, organization: p.organization },
      notBefore,
      notAfter,
      publicKeySpki: signer.publicKeySpki,
      issuerCertificate: parent ? pemBlocks(parent.certificatePem, 'CERTIFICATE')[0] : undefined,
    },
    issuerSigner,
  );
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
    certificatePem: cert.pem,
    createdAt: now.toISOString(),
  };
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
export async function syncTruststore(ctx: OperationContext): Promise<TruststoreSyncResult> {
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
    if (changes.length) {
      await ctx.store.registry.commit(changes, { atomic: true });
      state = await loadCaState(ctx.store.registry);
    }
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
    await ctx.store.registry.commit([{ op: 'create', record: root }], { atomic: true });
  }
  const generation = (await ctx.store.registry.list({ kind: 'intermediate' })).filter((i) => i.issuerSerial === root!.serial).length + 1;
  const intermediate = await createCa(ctx, 'intermediate', generation, root);
  await ctx.store.registry.commit([{ op: 'create', record: intermediate }], { atomic: true });
  const truststore = await syncTruststore(ctx);
  return { action: replacing ? 'replaced' : resuming ? 'resumed' : 'created', root, intermediate, truststore, replaced };
}

function caSerials(s: CaState): string[] {
  return s.all.filter((r) => r.status !== 'retired').map((r) => r.serial);
}

export interface RotateOptions {
  rekey?: boolean;
  dryRun?: boolean;
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
    );
  }
  // Publish root + new + previous before any client gets a certificate from the new intermediate.
  await ctx.store.truststore.sync(buildTruststore(await loadCaState(ctx.store.registry)));
  const issuer = await openIssuer(ctx);
  const reissued = await reissueClients(ctx, issuer, plan.reissue, { rekey: o.rekey });
  const truststore = await syncTruststore(ctx);
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
  truststore?: TruststoreSyncResult;
}

/**
 * Removes previous intermediates from the truststore. Refuses one that still has active client certificates;
 * one whose superseded certificates are still in their grace period needs `force`.
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
  if (o.dryRun) return { dryRun: true, retired: retired.map(({ record, ...r }) => r) };
  await ctx.store.registry.commit(
    retired.map((r) => ({ op: 'update', expect: 'superseded', record: { ...r.record, status: 'retired', retiredAt: now.toISOString() } })),
    { atomic: true },
  );
  const truststore = await syncTruststore(ctx);
  return { dryRun: false, retired: retired.map(({ record, ...r }) => r), truststore };
}
