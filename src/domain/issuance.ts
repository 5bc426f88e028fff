import type { BundleSink, CaSigner, CertificateRecord, ClientBundle, KeyType, RegistryChange } from '../ports.js';
import { isStillAccepted, openSigner, requireCa, trustedIntermediates, type CaState } from './ca-state.js';
import { formatSubject, subjectOrganization } from './certificate.js';
import { ClientTemplate, generateClientKey } from './template.js';
import type { OperationContext } from './context.js';
import { conflict, invalidInput, notFound, usageError } from './errors.js';
import { keyTypeOf, publicKeyFromSpki, sha256Hex } from './keys.js';
import { BACKDATE_MS, DAY_MS, spiffeIdFor, validateDays } from './policy.js';
import { randomSerial } from './serial.js';
import { pemBlocks, toPem } from './der.js';

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

/** What one client certificate is made from. */
export interface ClientSpec {
  clientId: string;
  publicKeySpki: Uint8Array;
  keyType: KeyType;
  keyOrigin: 'generated' | 'csr';
  /** PKCS#8 PEM of a key the tool generated just now; it goes into the bundle and nowhere else */
  privateKeyPem?: string;
  validityDays?: number;
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

/** A ClientSpec for re-issuing an existing certificate's key (renewal, rotation). */
export function sameKeySpec(r: CertificateRecord): ClientSpec {
  return { clientId: r.clientId, keyType: r.keyType, keyOrigin: r.keyOrigin === 'csr' ? 'csr' : 'generated', publicKeySpki: Buffer.from(r.publicKey, 'base64') };
}

/** A certificate to issue in a batch: with a known key, or (no publicKeySpki) a key to generate. */
export type ClientRequest = Omit<ClientSpec, 'publicKeySpki' | 'privateKeyPem'> & { publicKeySpki?: Uint8Array };

/** The varying fields of one client certificate, decided before signing. */
interface Planned {
  request: ClientRequest;
  serial: string;
  notBefore: Date;
  notAfter: Date;
  spiffeId?: string;
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
  return {
    request,
    serial: randomSerial(),
    notBefore: sec(Math.max(now.getTime() - BACKDATE_MS, Date.parse(issuing.notBefore))),
    notAfter: sec(Math.min(now.getTime() + days * DAY_MS, Date.parse(issuing.notAfter))),
    spiffeId: spiffeIdFor(ctx.policy, request.clientId),
  };
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
    certificatePem: pem,
    createdAt: ctx.clock.now().toISOString(),
  };
  return {
    record,
    bundle: {
      clientId: p.request.clientId,
      certificatePem: pem,
      chainPem: issuing.certificatePem.trim() + '\n' + root.certificatePem.trim() + '\n',
      ...(privateKeyPem ? { privateKeyPem } : {}),
    },
  };
}

/** Signs one client certificate under the issuing intermediate (see plan for the validity rules). */
export async function signClient(ctx: OperationContext, issuer: Issuer, spec: ClientSpec): Promise<IssuedClient> {
  const p = plan(ctx, issuer, spec);
  const tbs = issuer.template.tbs({ serial: p.serial, commonName: spec.clientId, organization: issuer.organization, notBefore: p.notBefore, notAfter: p.notAfter, publicKeySpki: spec.publicKeySpki, spiffeId: p.spiffeId });
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
  const key = issuer.signer.inMemoryKey;
  if (!ctx.pool || !key || requests.length < PARALLEL_THRESHOLD) {
    const out: IssuedClient[] = [];
    for (const r of requests) {
      out.push(await signClient(ctx, issuer, r.publicKeySpki ? { ...r, publicKeySpki: r.publicKeySpki } : generatedKeySpec(r.clientId, r.keyType, r.validityDays)));
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
  /** built into the bundle after signing (PKCS#12 needs the key and the chain) */
  finishBundle?: (bundle: ClientBundle) => ClientBundle;
}

export interface IssueClientResult {
  action: 'issued' | 'replaced' | 'would-issue' | 'would-replace';
  record?: CertificateRecord;
  replacedSerial?: string;
  delivered: string[];
}

/**
 * Issues a client certificate for a new key or a CSR's key, delivers the bundle, records it.
 * @throws CaError conflict when the client has an active certificate and `replace` is not set
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
  const issuer = await openIssuer(ctx);
  let spec: ClientSpec;
  if (o.csrPublicKeySpki) {
    const keyType = keyTypeOf(publicKeyFromSpki(o.csrPublicKeySpki));
    spec = { clientId: o.clientId, keyType, keyOrigin: 'csr', publicKeySpki: o.csrPublicKeySpki, validityDays: o.validityDays };
  } else {
    spec = generatedKeySpec(o.clientId, o.keyType ?? ctx.policy.clientKeyType, o.validityDays);
  }
  const issued = await signClient(ctx, issuer, spec);
  const bundle = o.finishBundle ? o.finishBundle(issued.bundle) : issued.bundle;
  const changes: RegistryChange[] = [{ op: 'create', record: issued.record }];
  if (existing) changes.unshift(supersede(ctx, existing, issued.record.serial));
  // Deliver first, then record: a crash in between leaves a certificate the registry does not know (the
  // authorizer denies it) and a re-run issues again; the reverse order could lose a generated key.
  const delivered = await ctx.sink.deliver(bundle);
  await ctx.store.registry.commit(changes, { atomic: true });
  return { action: existing ? 'replaced' : 'issued', record: issued.record, replacedSerial: existing?.serial, delivered };
}

/** Delivers bundles through the sink's batch method when it has one, else one by one; all durable when it resolves. */
export async function deliverAll(sink: BundleSink, bundles: ClientBundle[]): Promise<string[][]> {
  if (sink.deliverMany) return sink.deliverMany(bundles);
  const out: string[][] = [];
  for (const b of bundles) out.push(await sink.deliver(b));
  return out;
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
 * delivered, then recorded, so a crash leaves every client either done or still on its old certificate
 * (which stays active), and a re-run finishes the rest.
 */
export async function reissueClients(
  ctx: OperationContext,
  issuer: Issuer,
  targets: CertificateRecord[],
  o: { rekey?: boolean; chunkSize?: number } = {},
): Promise<ReissueResult[]> {
  if (!ctx.sink) throw usageError('no bundle destination configured');
  const out: ReissueResult[] = [];
  // 990 clients: a multiple of 33, the clients that fill one 100-action DynamoDB transaction (3 actions each),
  // so chunking never adds a half-empty request (see src/adapters/aws/README.md).
  const chunkSize = o.chunkSize ?? ctx.chunkSize ?? 990;
  const sign = (i: number) => {
    const chunk = targets.slice(i, i + chunkSize);
    const rekey = chunk.map((old) => !!o.rekey && old.keyOrigin === 'generated');
    const signing = signClients(
      ctx,
      issuer,
      chunk.map((old, k) => {
        const { publicKeySpki, ...rest } = sameKeySpec(old);
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
    const delivered = await deliverAll(ctx.sink, issued.map((it) => it.next.bundle));
    const changes: RegistryChange[] = [];
    for (const it of issued) changes.push({ op: 'create', record: it.next.record }, supersede(ctx, it.old, it.next.record.serial));
    await ctx.store.registry.commit(changes);
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
  dryRun?: boolean;
}

/** Renews one or every active client certificate: same key, current intermediate, old one superseded. */
export async function renew(ctx: OperationContext, o: RenewOptions): Promise<{ renewed: ReissueResult[]; dryRun: boolean }> {
  const now = ctx.clock.now();
  let targets: CertificateRecord[];
  if (o.all) {
    const trusted = new Set(trustedIntermediates(await requireCa(ctx.store.registry)).map((i) => i.serial));
    targets = (await ctx.store.registry.list({ kind: 'client', status: 'active' })).filter((r) => isStillAccepted(r, now) && trusted.has(r.issuerSerial ?? ''));
  } else {
    if (!o.clientId) throw usageError('give a client id or --all');
    const r = await activeClientCert(ctx, o.clientId);
    if (!r) throw notFound(`client ${o.clientId} has no active certificate`, 'see `ca list`; issue one with `ca issue-client`');
    targets = [r];
  }
  targets.sort((a, b) => a.clientId.localeCompare(b.clientId));
  if (o.dryRun) {
    await requireCa(ctx.store.registry);
    return { renewed: targets.map((t) => ({ clientId: t.clientId, oldSerial: t.serial, delivered: [], rekeyed: false })), dryRun: true };
  }
  const issuer = await openIssuer(ctx);
  return { renewed: await reissueClients(ctx, issuer, targets), dryRun: false };
}
