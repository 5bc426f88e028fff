import { createPrivateKey, createPublicKey } from 'node:crypto';
import type { BundleSink, CaSigner, CertificateRecord, ClientBundle, KeyType, RegistryChange } from '../ports.js';
import { isStillAccepted, openSigner, requireCa, trustedIntermediates, type CaState } from './ca-state.js';
import { formatSubject, subjectOrganization } from './certificate.js';
import { ClientTemplate, generateClientKey } from './template.js';
import type { OperationContext } from './context.js';
import { conflict, invalidInput, notFound, usageError } from './errors.js';
import { keyTypeOf, publicKeyFromSpki, sha256Hex } from './keys.js';
import { BACKDATE_MS, DAY_MS, crlName, expandCrlDistributionPoint, spiffeIdFor, validateDays } from './policy.js';
import { randomSerial } from './serial.js';
import { pemBlocks, toPem } from './der.js';
import { withPkcs12 } from './pkcs12.js';
import { grantsOf, type ClientGrants } from './scopes.js';

/** The issuing CA opened for signing. */
export interface Issuer {
  state: CaState & { root: CertificateRecord; issuing: CertificateRecord };
  signer: CaSigner;
  /** O= of the issuing CA, which client subjects repeat */
  organization?: string;
  template: ClientTemplate;
}

export async function openIssuer(ctx: OperationContext): Promise<Issuer> {
  const state = await requireCa(ctx.store.registry);
  const der = pemBlocks(state.issuing.certificatePem, 'CERTIFICATE')[0]!;
  const signer = await openSigner(ctx.store.custody, state.issuing);
  return { state, signer, organization: subjectOrganization(der), template: new ClientTemplate(der, signer.keyType) };
}

/** What one client certificate is made from (its grants, scopes and audiences, are recorded with it). */
export interface ClientSpec extends ClientGrants {
  clientId: string;
  publicKeySpki: Uint8Array;
  keyType: KeyType;
  keyOrigin: 'generated' | 'csr';
  /** PKCS#8 PEM of a key the tool generated just now; it goes into the bundle and nowhere else */
  privateKeyPem?: string;
  /** the validity length asked for; absent: the profile's */
  validityDays?: number;
  /** the SPIFFE ID to carry; null: none; absent: the profile's (from its trust domain) */
  spiffeId?: string | null;
  /** the CRL distribution point setting (`{issuer}` unexpanded); null: none; absent: the profile's */
  crlDistributionPoint?: string | null;
}

export interface IssuedClient {
  record: CertificateRecord;
  bundle: ClientBundle;
}

/** A fresh key of the policy's (or given) type, as a ClientSpec. */
export function generatedKeySpec(clientId: string, keyType: KeyType, validityDays?: number): ClientSpec {
  const { spki, privateKeyPem } = generateClientKey(keyType);
  return { clientId, keyType, keyOrigin: 'generated', publicKeySpki: spki, privateKeyPem, validityDays };
}

/**
 * A ClientSpec for re-issuing an existing certificate (renewal, rotation): what it was issued with — key,
 * key type and origin, validity length, SPIFFE ID, CRL distribution point setting, scopes and audiences — carried
 * over, never recomputed from today's settings.
 */
export function sameKeySpec(r: CertificateRecord): ClientSpec {
  return {
    clientId: r.clientId,
    keyType: r.keyType,
    keyOrigin: r.keyOrigin === 'csr' ? 'csr' : 'generated',
    publicKeySpki: Buffer.from(r.publicKey, 'base64'),
    validityDays: recordedValidityDays(r),
    spiffeId: r.spiffeId ?? null,
    crlDistributionPoint: r.crlDistributionPoint ?? null,
    ...grantsOf(r),
  };
}

/**
 * The validity length a certificate was asked for. Records made before it was recorded: the certificate's own
 * span without the backdating, in whole days (shorter than asked when its issuer's end capped it).
 */
export function recordedValidityDays(r: CertificateRecord): number {
  if (r.validityDays !== undefined) return r.validityDays;
  return Math.max(1, Math.round((Date.parse(r.notAfter) - Date.parse(r.notBefore) - BACKDATE_MS) / DAY_MS));
}

/** A certificate to issue in a batch: with a known key, or (no publicKeySpki) a key to generate. */
export type ClientRequest = Omit<ClientSpec, 'publicKeySpki' | 'privateKeyPem'> & { publicKeySpki?: Uint8Array };

/** The varying fields of one client certificate, decided before signing. */
interface Planned {
  request: ClientRequest;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  /** the length asked for (before capping at the issuer's end), recorded with the certificate */
  validityDays: number;
  /** the validity was cut short at the issuer's end */
  capped: boolean;
  spiffeId?: string;
  /** the CRL distribution point setting recorded with the certificate, and the URL it carries (for this issuer) */
  crlDistributionPoint?: { setting: string; url: string };
}

/**
 * Decides serial and validity: starting a little in the past, never outside the issuer's validity (RFC 5280
 * path validation would reject it).
 * @throws CaError invalidInput when the issuer has too little validity left
 */
function plan(ctx: OperationContext, issuer: Issuer, request: ClientRequest): Planned {
  const now = ctx.clock.now();
  const { issuing } = issuer.state;
  const days = validateDays('client validity', request.validityDays ?? ctx.policy.clientValidityDays);
  if (Date.parse(issuing.notAfter) - now.getTime() < DAY_MS) {
    throw invalidInput(`the issuing intermediate expires on ${issuing.notAfter}: too soon to issue from it`, 'run `ca rotate-intermediate` first');
  }
  // X.509 times have whole seconds; truncating here keeps the record equal to the certificate.
  const sec = (ms: number) => new Date(Math.floor(ms / 1000) * 1000);
  const wanted = now.getTime() + days * DAY_MS;
  return {
    request,
    serial: randomSerial(),
    notBefore: sec(Math.max(now.getTime() - BACKDATE_MS, Date.parse(issuing.notBefore))),
    notAfter: sec(Math.min(wanted, Date.parse(issuing.notAfter))),
    validityDays: days,
    capped: wanted > Date.parse(issuing.notAfter),
    spiffeId: request.spiffeId === undefined ? spiffeIdFor(ctx.policy, request.clientId) : (request.spiffeId ?? undefined),
    ...cdpFor(request.crlDistributionPoint === undefined ? ctx.policy.crlDistributionPoint : (request.crlDistributionPoint ?? undefined), issuing),
  };
}

function cdpFor(setting: string | undefined, issuing: CertificateRecord): Pick<Planned, 'crlDistributionPoint'> {
  return setting ? { crlDistributionPoint: { setting, url: expandCrlDistributionPoint(setting, crlName(issuing)) } } : {};
}

/** The record and bundle of a signed certificate. */
function finish(ctx: OperationContext, issuer: Issuer, p: Planned, der: Uint8Array, publicKeySpki: Uint8Array, privateKeyPem?: string): IssuedClient {
  const { issuing, root } = issuer.state;
  const pem = toPem('CERTIFICATE', der);
  const record: CertificateRecord = {
    serial: p.serial,
    kind: 'client',
    clientId: p.request.clientId,
    status: 'active',
    fingerprint: sha256Hex(der),
    subject: formatSubject({ commonName: p.request.clientId, organization: issuer.organization }),
    issuer: issuing.subject,
    issuerSerial: issuing.serial,
    notBefore: p.notBefore.toISOString(),
    notAfter: p.notAfter.toISOString(),
    keyType: p.request.keyType,
    publicKey: Buffer.from(publicKeySpki).toString('base64'),
    keyOrigin: p.request.keyOrigin,
    ...(p.spiffeId ? { spiffeId: p.spiffeId } : {}),
    ...(p.crlDistributionPoint ? { crlDistributionPoint: p.crlDistributionPoint.setting } : {}),
    validityDays: p.validityDays,
    ...grantsOf(p.request),
    certificatePem: pem,
    createdAt: ctx.clock.now().toISOString(),
  };
  return {
    record,
    bundle: {
      clientId: p.request.clientId,
      serial: p.serial,
      certificatePem: pem,
      chainPem: issuing.certificatePem.trim() + '\n' + root.certificatePem.trim() + '\n',
      ...(privateKeyPem ? { privateKeyPem } : {}),
    },
  };
}

/** Signs one client certificate under the issuing intermediate (see plan for the validity rules). */
export async function signClient(ctx: OperationContext, issuer: Issuer, spec: ClientSpec): Promise<IssuedClient> {
  const p = plan(ctx, issuer, spec);
  const tbs = issuer.template.tbs({ serial: p.serial, commonName: spec.clientId, organization: issuer.organization, notBefore: p.notBefore, notAfter: p.notAfter, publicKeySpki: spec.publicKeySpki, spiffeId: p.spiffeId, crlDistributionPoint: p.crlDistributionPoint?.url });
  const der = issuer.template.certificate(tbs, await issuer.signer.sign(tbs));
  return finish(ctx, issuer, p, der, spec.publicKeySpki, spec.privateKeyPem);
}

/** Below this many certificates, handing work to threads costs more than it saves. */
const PARALLEL_THRESHOLD = 64;

/**
 * Signs many client certificates: on the signing pool's threads when there is one and the CA key is in this
 * process, else one after the other. Same certificates either way.
 */
export async function signClients(ctx: OperationContext, issuer: Issuer, requests: ClientRequest[]): Promise<IssuedClient[]> {
  const key = ctx.pool && requests.length >= PARALLEL_THRESHOLD ? issuer.signer.keyForWorkerThreads?.() : undefined;
  if (!ctx.pool || !key || requests.length < PARALLEL_THRESHOLD) {
    const out: IssuedClient[] = [];
    for (const r of requests) {
      out.push(await signClient(ctx, issuer, r.publicKeySpki ? { ...r, publicKeySpki: r.publicKeySpki } : { ...generatedKeySpec(r.clientId, r.keyType, r.validityDays), spiffeId: r.spiffeId, crlDistributionPoint: r.crlDistributionPoint, ...grantsOf(r) }));
    }
    return out;
  }
  const planned = requests.map((r) => plan(ctx, issuer, r));
  const results = await ctx.pool.sign(
    pemBlocks(issuer.state.issuing.certificatePem, 'CERTIFICATE')[0]!,
    key,
    issuer.signer.keyType,
    planned.map((p) => ({
      serial: p.serial,
      commonName: p.request.clientId,
      organization: issuer.organization,
      notBefore: p.notBefore.getTime(),
      notAfter: p.notAfter.getTime(),
      spiffeId: p.spiffeId,
      ...(p.crlDistributionPoint ? { crlDistributionPoint: p.crlDistributionPoint.url } : {}),
      ...(p.request.publicKeySpki ? { publicKeySpki: p.request.publicKeySpki } : { generateKeyType: p.request.keyType }),
    })),
  );
  return planned.map((p, i) => finish(ctx, issuer, p, results[i]!.der, results[i]!.publicKeySpki, results[i]!.privateKeyPem));
}

/** The change that retires `old` in favour of `next`: superseded, accepted for the grace period only. */
export function supersede(ctx: OperationContext, old: CertificateRecord, nextSerial: string): RegistryChange {
  const now = ctx.clock.now();
  const graceEnd = Math.min(now.getTime() + ctx.policy.graceDays * DAY_MS, Date.parse(old.notAfter));
  return {
    op: 'update',
    expect: old.status,
    record: { ...old, status: 'superseded', supersededBy: nextSerial, supersededAt: now.toISOString(), graceUntil: new Date(graceEnd).toISOString() },
  };
}

export async function activeClientCert(ctx: OperationContext, clientId: string): Promise<CertificateRecord | undefined> {
  const found = await ctx.store.registry.list({ kind: 'client', clientId, status: 'active' });
  return found.sort((a, b) => b.createdAt.localeCompare(a.createdAt))[0];
}

export interface IssueClientOptions {
  clientId: string;
  /** a CSR's public key, already checked (see csr.ts); without it a key is generated */
  csrPublicKeySpki?: Uint8Array;
  keyType?: KeyType;
  validityDays?: number;
  replace?: boolean;
  dryRun?: boolean;
  /** also write a PKCS#12 with this password (needs a generated key) */
  pkcs12Password?: string;
  /** remove the PKCS#12 the client's bundle holds instead of refusing to leave it stale */
  dropPkcs12?: boolean;
  /** the client's scopes and audiences; absent: with `replace`, those of the certificate replaced */
  scopes?: string[];
  audiences?: string[];
}

export interface IssueClientResult {
  action: 'issued' | 'replaced' | 'would-issue' | 'would-replace';
  record?: CertificateRecord;
  replacedSerial?: string;
  delivered: string[];
}

/**
 * Issues a client certificate for a new key or a CSR's key: stages the bundle, records the certificate, then puts
 * the bundle in place.
 * @throws CaError conflict when the client has an active certificate and `replace` is not set
 * @throws CaError usage when the bundle holds a PKCS#12 of the active certificate that neither a new one
 *   (`pkcs12Password`) nor `dropPkcs12` replaces
 */
export async function issueClient(ctx: OperationContext, o: IssueClientOptions): Promise<IssueClientResult> {
  const existing = await activeClientCert(ctx, o.clientId);
  if (existing && !o.replace) {
    throw conflict(`client ${o.clientId} already has an active certificate (serial ${existing.serial})`, 'use --replace to supersede it, or `ca renew` to re-issue it for the same key');
  }
  if (o.dryRun) {
    await requireCa(ctx.store.registry);
    return { action: existing ? 'would-replace' : 'would-issue', replacedSerial: existing?.serial, delivered: [] };
  }
  if (!ctx.sink) throw usageError('no bundle destination configured');
  await recoverBundles(ctx);
  if (existing && !o.pkcs12Password && !o.dropPkcs12 && (await ctx.sink.describe([o.clientId]))[0]?.pkcs12) {
    throw usageError(
      `the bundle of ${o.clientId} holds a .p12 with its current certificate, which this would leave stale`,
      o.csrPublicKeySpki ? 'add --drop-p12 to remove it (a CSR\'s key cannot go in a PKCS#12)' : 'add --p12 to write a new one (CA_P12_PASSWORD or --p12-password-file), or --drop-p12 to remove it',
    );
  }
  const issuer = await openIssuer(ctx);
  await preflightDelivery(ctx);
  let spec: ClientSpec;
  if (o.csrPublicKeySpki) {
    const keyType = keyTypeOf(publicKeyFromSpki(o.csrPublicKeySpki));
    spec = { clientId: o.clientId, keyType, keyOrigin: 'csr', publicKeySpki: o.csrPublicKeySpki, validityDays: o.validityDays };
  } else {
    spec = generatedKeySpec(o.clientId, o.keyType ?? ctx.policy.clientKeyType, o.validityDays);
  }
  const kept = existing ? grantsOf(existing) : {};
  spec = { ...spec, ...grantsOf({ scopes: o.scopes ?? kept.scopes, audiences: o.audiences ?? kept.audiences }) };
  const issued = await signClient(ctx, issuer, spec);
  const bundle = o.pkcs12Password ? withPkcs12(issued.bundle, o.pkcs12Password) : issued.bundle;
  const changes: RegistryChange[] = [{ op: 'create', record: issued.record }];
  if (existing) changes.unshift(supersede(ctx, existing, issued.record.serial));
  const [delivered] = await stageRecordPublish(ctx, [bundle], () => ctx.store.registry.commit(changes, { atomic: true }));
  return { action: existing ? 'replaced' : 'issued', record: issued.record, replacedSerial: existing?.serial, delivered: delivered! };
}

/**
 * What an issuing command checks before its first write, once the keys that sign are open: a bundle
 * destination is configured and accepts files.
 * @throws CaError usage without a destination; storage when it cannot take the bundles
 */
export async function preflightDelivery(ctx: OperationContext): Promise<BundleSink> {
  if (!ctx.sink) throw usageError('no bundle destination configured');
  await ctx.sink.preflight();
  return ctx.sink;
}

/** Whether the registry holds this certificate for this client: what decides a staged bundle's fate. */
const recordedIn = (ctx: OperationContext) => async (clientId: string, serial: string) => (await ctx.store.registry.get(serial))?.clientId === clientId;

/**
 * Settles the bundles an interrupted run left staged (see BundleSink.recover): those whose certificate is recorded
 * are put in place, the others removed. Every issuing operation runs it first, under the lock.
 */
export async function recoverBundles(ctx: OperationContext): Promise<void> {
  if (!ctx.sink) return;
  const r = await ctx.sink.recover(recordedIn(ctx));
  const some = (ids: string[]) => ids.slice(0, 5).join(', ') + (ids.length > 5 ? ', …' : '');
  if (r.published.length) ctx.warn?.(`finished ${r.published.length} bundle(s) an interrupted run had staged: ${some(r.published)}`);
  if (r.discarded.length) ctx.warn?.(`removed ${r.discarded.length} staged bundle(s) whose certificate was never recorded: ${some(r.discarded)}`);
}

/**
 * Stage, record, publish: every bundle is written durably beside the current one (a generated key is on disk or in
 * SSM before the registry records its certificate), `commit` records the certificates, and only then are the
 * bundles put in place, so a failed or interrupted commit leaves each client's working bundle as it was. On a
 * failed commit the registry decides (it may have applied before failing): recorded bundles are published, the
 * rest removed; if the registry cannot tell, the next run's recoverBundles does it. Returns where each bundle is.
 */
export async function stageRecordPublish(ctx: OperationContext, bundles: ClientBundle[], commit: () => Promise<void>): Promise<string[][]> {
  if (!ctx.sink) throw usageError('no bundle destination configured');
  const staged = await ctx.sink.stage(bundles);
  try {
    await commit();
  } catch (e) {
    await ctx.sink.recover(recordedIn(ctx)).catch(() => undefined);
    throw e;
  }
  await staged.publish();
  return staged.locations;
}

/** How a re-issue treats a bundle that holds a PKCS#12 (it holds the certificate being replaced). */
export interface Pkcs12Choice {
  /** the password to rebuild it with; asked only when some bundle holds one */
  password?: () => Promise<string>;
  /** remove it instead */
  drop?: boolean;
}

/** What a re-issue does with the target bundles, decided before any write (see planBundles). */
export interface BundlePlan {
  /** clients whose PKCS#12 is rebuilt: the password, and the key it holds (absent: a new key, with --rekey) */
  rebuild: Map<string, { password: string; privateKeyPem?: string }>;
  /** clients whose PKCS#12 is removed */
  dropped: string[];
}

/**
 * Before anything is written for a re-issue: settles staged bundles (recoverBundles), finds the target bundles
 * that hold a PKCS#12 and decides, from `pkcs12`, whether each is rebuilt (with the new certificate, and the new
 * key where `rekey` makes one) or removed.
 * @throws CaError usage when some bundle holds a PKCS#12 and neither a password nor `drop` is given
 * @throws CaError invalidInput when a PKCS#12 to rebuild has no key beside it, or one that is not its certificate's
 */
export async function planBundles(ctx: OperationContext, targets: CertificateRecord[], o: { rekey?: boolean; pkcs12?: Pkcs12Choice } = {}): Promise<BundlePlan> {
  const plan: BundlePlan = { rebuild: new Map(), dropped: [] };
  if (!ctx.sink) throw usageError('no bundle destination configured');
  await recoverBundles(ctx);
  if (!targets.length) return plan;
  const byId = new Map(targets.map((t) => [t.clientId, t]));
  const holders = (await ctx.sink.describe(targets.map((t) => t.clientId))).filter((d) => d.pkcs12);
  if (!holders.length) return plan;
  const ids = holders.map((h) => h.clientId);
  const shown = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ', …' : '');
  if (o.pkcs12?.drop) {
    plan.dropped = ids;
    return plan;
  }
  if (!o.pkcs12?.password) {
    throw usageError(
      `${ids.length} bundle(s) hold a .p12 with the certificate being replaced (${shown}): give its password to rebuild it, or choose to remove it`,
      'set CA_P12_PASSWORD or --p12-password-file <file> to rebuild, or add --drop-p12 to remove the .p12 files',
    );
  }
  const password = await o.pkcs12.password();
  if (!password) throw invalidInput('the PKCS#12 password is empty');
  for (const h of holders) {
    const t = byId.get(h.clientId)!;
    if (o.rekey && t.keyOrigin === 'generated') {
      plan.rebuild.set(h.clientId, { password });
      continue;
    }
    let matches = false;
    try {
      matches = !!h.privateKeyPem && createPublicKey(createPrivateKey(h.privateKeyPem)).export({ format: 'der', type: 'spki' }).equals(Buffer.from(t.publicKey, 'base64'));
    } catch {
      matches = false;
    }
    if (!matches) {
      throw invalidInput(
        `the bundle of ${h.clientId} holds a .p12 but ${h.privateKeyPem ? 'a key that does not belong to its certificate' : 'no private key'}: it cannot be rebuilt`,
        `restore ${h.clientId}.key beside it, or add --drop-p12 to remove the .p12`,
      );
    }
    plan.rebuild.set(h.clientId, { password, privateKeyPem: h.privateKeyPem });
  }
  return plan;
}

/** A re-issued bundle with its PKCS#12 rebuilt when the plan says so. */
function finishReissued(plan: BundlePlan, b: ClientBundle): ClientBundle {
  const r = plan.rebuild.get(b.clientId);
  return r ? withPkcs12(b, r.password, r.privateKeyPem ?? b.privateKeyPem) : b;
}

export interface ReissueResult {
  clientId: string;
  oldSerial: string;
  newSerial?: string;
  record?: CertificateRecord;
  delivered: string[];
  rekeyed: boolean;
}

/**
 * Re-issues active client certificates under the current intermediate, keeping each client's public key
 * (or with `rekey`, a new key where the tool generated the old one). Works in chunks: each chunk is signed,
 * staged, recorded, then published (stageRecordPublish), so a crash leaves every client either done or still on
 * its old certificate and bundle (which stay active), and a re-run finishes the rest. `bundles` is what
 * planBundles decided (made here when not given).
 */
export async function reissueClients(
  ctx: OperationContext,
  issuer: Issuer,
  targets: CertificateRecord[],
  o: { rekey?: boolean; chunkSize?: number; bundles?: BundlePlan; pkcs12?: Pkcs12Choice; /** a new validity length for every certificate (else each keeps its own) */ validityDays?: number } = {},
): Promise<ReissueResult[]> {
  if (!ctx.sink) throw usageError('no bundle destination configured');
  const bundles = o.bundles ?? (await planBundles(ctx, targets, o));
  if (bundles.dropped.length) {
    ctx.warn?.(`removing the .p12 of ${bundles.dropped.length} bundle(s) (--drop-p12): ${bundles.dropped.slice(0, 5).join(', ')}${bundles.dropped.length > 5 ? ', …' : ''}`);
  }
  const out: ReissueResult[] = [];
  // 992 clients: a multiple of 32, the clients that fill one 100-action DynamoDB transaction (3 actions each)
  // beside its audit event (2 actions), so chunking never adds a half-empty request (src/adapters/aws/README.md).
  const chunkSize = o.chunkSize ?? ctx.chunkSize ?? 992;
  const sign = (i: number) => {
    const chunk = targets.slice(i, i + chunkSize);
    const rekey = chunk.map((old) => !!o.rekey && old.keyOrigin === 'generated');
    const signing = signClients(
      ctx,
      issuer,
      chunk.map((old, k) => {
        const { publicKeySpki, ...kept } = sameKeySpec(old);
        const rest = o.validityDays !== undefined ? { ...kept, validityDays: o.validityDays } : kept;
        return rekey[k] ? rest : { ...rest, publicKeySpki };
      }),
    ).then((signed) => chunk.map((old, k) => ({ old, next: signed[k]!, rekeyed: rekey[k]! })));
    // awaited in the next round; a failure there (or here, before) must not go unhandled meanwhile
    signing.catch(() => undefined);
    return signing;
  };
  ctx.progress?.(0, targets.length);
  let signing = targets.length ? sign(0) : undefined;
  for (let i = 0; i < targets.length; i += chunkSize) {
    const issued = await signing!;
    // Signing has no effect outside this process, so the next chunk is signed (on the pool's threads) while
    // this one is delivered and recorded.
    signing = i + chunkSize < targets.length ? sign(i + chunkSize) : undefined;
    const changes: RegistryChange[] = [];
    for (const it of issued) {
      // an imported client's next certificate keeps its provenance: the authorizer keeps offering the old context keys
      if (it.old.importedFrom) it.next.record.importedFrom = it.old.importedFrom;
      changes.push({ op: 'create', record: it.next.record }, supersede(ctx, it.old, it.next.record.serial));
    }
    const delivered = await stageRecordPublish(
      ctx,
      issued.map((it) => finishReissued(bundles, it.next.bundle)),
      () => ctx.store.registry.commit(changes),
    );
    issued.forEach((it, k) =>
      out.push({ clientId: it.old.clientId, oldSerial: it.old.serial, newSerial: it.next.record.serial, record: it.next.record, delivered: delivered[k]!, rekeyed: it.rekeyed }),
    );
    ctx.progress?.(Math.min(i + chunkSize, targets.length), targets.length);
  }
  return out;
}

export interface RenewOptions {
  clientId?: string;
  all?: boolean;
  /**
   * renew every active client whose certificate ends within this many days (its renewal window): the `all`
   * selection narrowed to those; each keeps its recorded parameters as with `all`
   */
  expiringWithinDays?: number;
  /** a new validity length; else each certificate keeps the length it was issued with */
  validityDays?: number;
  dryRun?: boolean;
  /** what to do with bundles that hold a PKCS#12 (see planBundles) */
  pkcs12?: Pkcs12Choice;
}

/** A client inside the renewal window that was left as it is, and why. */
export interface RenewSkipped {
  clientId: string;
  serial: string;
  /** `issuer-ends-first`: the issuing intermediate ends before a new certificate would end later than this one */
  reason: 'issuer-ends-first';
}

/**
 * Whether a certificate ends within `days` of `now` (its renewal window): notAfter is at most `days` whole days
 * away. An expired certificate is not in the window: renewing it is a decision per client (`ca renew <id>`).
 */
export function inRenewalWindow(r: Pick<CertificateRecord, 'notAfter'>, now: Date, days: number): boolean {
  const end = Date.parse(r.notAfter);
  return end > now.getTime() && end <= now.getTime() + days * DAY_MS;
}

/**
 * Renews one or every active client certificate (or every one inside its renewal window): same key, current
 * intermediate, old one superseded.
 */
export async function renew(ctx: OperationContext, o: RenewOptions): Promise<{ renewed: ReissueResult[]; dryRun: boolean; skipped: RenewSkipped[] }> {
  const now = ctx.clock.now();
  let targets: CertificateRecord[];
  const skipped: RenewSkipped[] = [];
  if (o.all || o.expiringWithinDays !== undefined) {
    const state = await requireCa(ctx.store.registry);
    const trusted = new Set(trustedIntermediates(state).map((i) => i.serial));
    targets = (await ctx.store.registry.list({ kind: 'client', status: 'active' })).filter((r) => isStillAccepted(r, now) && trusted.has(r.issuerSerial ?? ''));
    if (o.expiringWithinDays !== undefined) {
      targets = targets.filter((r) => inRenewalWindow(r, now, o.expiringWithinDays!));
      // A renewal that would not end later (the issuing intermediate ends within a day of the certificate, and caps
      // the new one there) changes nothing but the serial, and a daily job would repeat it every day: such a client is left as it is, and said so (the issuing intermediate
      // near its end is a `ca status --check` warning).
      const issuerEnd = Date.parse(state.issuing.notAfter);
      const extends_ = (r: CertificateRecord) => issuerEnd > Date.parse(r.notAfter) + DAY_MS;
      for (const r of targets) if (!extends_(r)) skipped.push({ clientId: r.clientId, serial: r.serial, reason: 'issuer-ends-first' });
      if (skipped.length) {
        skipped.sort((a, b) => a.clientId.localeCompare(b.clientId));
        targets = targets.filter(extends_);
        ctx.warn?.(
          `${skipped.length} client(s) inside the window not renewed: the issuing intermediate ends ${state.issuing.notAfter.slice(0, 10)}, so a new certificate would not end later (${skipped.slice(0, 5).map((x) => x.clientId).join(', ')}${skipped.length > 5 ? ', …' : ''}); run \`ca rotate-intermediate\``,
        );
      }
    }
  } else {
    if (!o.clientId) throw usageError('give a client id, --all or --expiring-within');
    const r = await activeClientCert(ctx, o.clientId);
    if (!r) throw notFound(`client ${o.clientId} has no active certificate`, 'see `ca list`; issue one with `ca issue-client`');
    targets = [r];
  }
  targets.sort((a, b) => a.clientId.localeCompare(b.clientId));
  if (o.dryRun) {
    await requireCa(ctx.store.registry);
    return { renewed: targets.map((t) => ({ clientId: t.clientId, oldSerial: t.serial, delivered: [], rekeyed: false })), dryRun: true, skipped };
  }
  const bundles = await planBundles(ctx, targets, { pkcs12: o.pkcs12 });
  const issuer = await openIssuer(ctx);
  await preflightDelivery(ctx);
  return { renewed: await reissueClients(ctx, issuer, targets, { bundles, validityDays: o.validityDays }), dryRun: false, skipped };
}
