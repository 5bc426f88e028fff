import { createPrivateKey, createPublicKey, X509Certificate, type KeyObject } from 'node:crypto';
import type { CaProfile, CertificateRecord, KeyType, RegistryChange } from '../ports.js';
import { loadCaState } from './ca-state.js';
import { certificateFacts, subjectOrganization } from './certificate.js';
import type { OperationContext } from './context.js';
import { conflict, invalidInput, usageError } from './errors.js';
import { validateClientId } from './ids.js';
import { keyTypeOf, sha256Hex, spkiDer } from './keys.js';
import { DAY_MS } from './policy.js';
import { syncTruststore, type TruststoreSyncResult } from './hierarchy.js';

/**
 * `ca import`: adopting the CA and the client records of the Python/Terraform setup this tool replaces (layout in
 * README.md, "Migrating from an existing setup"). The rules of what is adopted and what is refused are pure
 * functions of what the old layout holds; reading it is the adapter's business (adapters/aws/legacy-layout.ts).
 */

/** One CA of the old layout: its certificate and private key as the SSM parameters hold them. */
export interface LegacyCaMaterial {
  /** where it came from, e.g. `/apigw-mtls/sandbox/ca/root` */
  source: string;
  certificatePem?: string;
  privateKeyPem?: string;
}

/** One item of the old metadata table, with the certificate the old layout holds for its client. */
export interface LegacyClientItem {
  /** the item's string and number attributes, as text (numbers keep their digits exactly) */
  attributes: Record<string, string>;
  /** `/<prefix>/clients/<client_id>/certificate`, when the item names a client and the parameter exists */
  certificatePem?: string;
}

/** What the old layout holds. Client private keys are never part of it: they stay where they are. */
export interface LegacyLayout {
  /** the SSM prefix `/<project>/<env>` */
  prefix: string;
  /** the metadata table */
  table: string;
  root: LegacyCaMaterial;
  intermediate: LegacyCaMaterial;
  items: LegacyClientItem[];
  /** the old bucket's truststore.pem, when asked to compare it */
  truststorePem?: string;
}

export type RefusalReason =
  | 'malformed_item'
  | 'unknown_status'
  | 'certificate_missing'
  | 'certificate_mismatch'
  | 'does_not_chain'
  | 'client_id_mismatch'
  | 'conflict';

export interface Refusal {
  /** the item's decimal serial as given (or `?` when it has none) */
  serialNumber: string;
  clientId?: string;
  reason: RefusalReason;
  message: string;
}

/** A CA certificate with the key it was found with, checked to belong together. */
export interface AdoptedCa {
  record: Omit<CertificateRecord, 'keyRef'>;
  privateKey: KeyObject;
}

export const LEGACY_STATUSES = ['active', 'revoked'] as const;

const sec = (d: Date) => d.toISOString().replace(/\.\d{3}Z$/, '.000Z');
const daysBetween = (a: Date, b: Date) => Math.max(1, Math.min(36500, Math.round((b.getTime() - a.getTime()) / DAY_MS)));

/** Decimal serial (the old table's key) to ours: lowercase hex without leading zeros. */
export function decimalToHexSerial(decimal: string): string | undefined {
  if (!/^[0-9]{1,49}$/.test(decimal)) return undefined; // 20 octets are at most 49 decimal digits (RFC 5280 4.1.2.2)
  const n = BigInt(decimal);
  if (n <= 0n || n >= 1n << 160n) return undefined;
  return n.toString(16);
}

/** Ours to the decimal form the old setup's backends read as `serialNumber`. */
export function hexToDecimalSerial(hex: string): string {
  return BigInt(`0x${hex}`).toString(10);
}

function readCa(m: LegacyCaMaterial, what: string): { x: X509Certificate; key: KeyObject; keyType: KeyType } {
  if (!m.certificatePem) throw invalidInput(`the ${what} CA certificate ${m.source}/certificate is missing`, 'check --ssm-prefix: it names /<project>/<env> of the setup being imported');
  if (!m.privateKeyPem) throw invalidInput(`the ${what} CA private key ${m.source}/private-key is missing`, 'without it this CA cannot sign: check --ssm-prefix and that you may read (and decrypt) it');
  let x: X509Certificate;
  try {
    x = new X509Certificate(m.certificatePem);
  } catch (e) {
    throw invalidInput(`${m.source}/certificate does not hold a PEM certificate`, 'check the parameter', e);
  }
  if (!x.ca) throw invalidInput(`${m.source}/certificate is not a CA certificate (basicConstraints CA:TRUE is missing)`);
  let key: KeyObject;
  try {
    key = createPrivateKey({ key: m.privateKeyPem, format: 'pem' });
  } catch (e) {
    // the key's bytes are never part of a message
    throw invalidInput(`${m.source}/private-key does not hold an unencrypted PEM private key`, 'the old setup stores PKCS#8 PEM', e);
  }
  if (!spkiDer(createPublicKey(key)).equals(spkiDer(x.publicKey))) {
    throw invalidInput(`${m.source}/private-key is not the key of ${m.source}/certificate`, 'the parameters were swapped or replaced: restore them first');
  }
  return { x, key, keyType: keyTypeOf(x.publicKey) };
}

function caRecord(kind: 'root' | 'intermediate', x: X509Certificate, keyType: KeyType, source: string, now: Date, parent?: CertificateRecord): CertificateRecord {
  const f = certificateFacts(x.raw);
  return {
    serial: f.serial,
    kind,
    clientId: kind,
    status: 'active',
    fingerprint: f.fingerprint,
    subject: f.subject,
    issuer: f.issuer,
    ...(parent ? { issuerSerial: parent.serial } : {}),
    notBefore: sec(f.notBefore),
    notAfter: sec(f.notAfter),
    keyType,
    publicKey: spkiDer(x.publicKey).toString('base64'),
    keyOrigin: 'ca',
    validityDays: daysBetween(f.notBefore, f.notAfter),
    certificatePem: x.toString(),
    createdAt: now.toISOString(),
    importedFrom: `${source}/certificate`,
  };
}

/**
 * The old root and intermediate as our records, each with its key: the root self-signed, the intermediate
 * signed by it, each key the one of its certificate. The root carries a CA profile read from the certificates
 * and keys (organization, CA name, key types, validity lengths); what they cannot tell comes from `base`.
 * @throws CaError invalidInput naming the parameter that is missing, malformed or does not belong
 */
export function adoptCa(layout: LegacyLayout, base: CaProfile, now: Date): { root: AdoptedCa; intermediate: AdoptedCa; profile: CaProfile } {
  const r = readCa(layout.root, 'root');
  const i = readCa(layout.intermediate, 'intermediate');
  if (!(r.x.checkIssued(r.x) && r.x.verify(r.x.publicKey))) throw invalidInput(`${layout.root.source}/certificate is not self-signed: it is not a root`);
  if (!(i.x.checkIssued(r.x) && i.x.verify(r.x.publicKey))) {
    throw invalidInput(`${layout.intermediate.source}/certificate is not signed by ${layout.root.source}/certificate`, 'the old CA is not one hierarchy: nothing was imported');
  }
  const rootRecord = caRecord('root', r.x, r.keyType, layout.root.source, now);
  const interRecord = caRecord('intermediate', i.x, i.keyType, layout.intermediate.source, now, rootRecord);
  const cn = /^CN=([^,]*)/.exec(rootRecord.subject)?.[1] ?? '';
  const clientKeyTypes = layout.items.flatMap((it) => {
    try {
      return it.certificatePem ? [keyTypeOf(new X509Certificate(it.certificatePem).publicKey)] : [];
    } catch {
      return [];
    }
  });
  const clientDays = layout.items.flatMap((it) => {
    try {
      const f = it.certificatePem ? certificateFacts(it.certificatePem) : undefined;
      return f ? [daysBetween(f.notBefore, f.notAfter)] : [];
    } catch {
      return [];
    }
  });
  const organization = subjectOrganization(r.x.raw);
  const profile: CaProfile = {
    ...base,
    ...(organization !== undefined ? { organization } : {}),
    caName: (cn.endsWith(' Root CA') ? cn.slice(0, -' Root CA'.length) : cn) || base.caName,
    caKeyType: r.keyType,
    clientKeyType: clientKeyTypes[0] ?? r.keyType,
    rootValidityDays: rootRecord.validityDays!,
    intermediateValidityDays: interRecord.validityDays!,
    clientValidityDays: clientDays.length ? Math.max(...clientDays) : base.clientValidityDays,
  };
  // an old certificate carries no SPIFFE ID: a trust domain from this run's settings would change every renewal
  delete profile.spiffeTrustDomain;
  return { root: { record: { ...rootRecord, profile }, privateKey: r.key }, intermediate: { record: interRecord, privateKey: i.key }, profile };
}

export interface ClientImportPlan {
  adopt: CertificateRecord[];
  /** already in our registry exactly as this import records it (a re-run) */
  already: { clientId: string; serial: string }[];
  refused: Refusal[];
}

/**
 * Which items of the old table become our client records, and why the others do not: a malformed item, a status
 * other than active/revoked, no certificate (or another one) in SSM for it, a certificate not signed by the
 * imported intermediate, a CN other than the client id, or a serial our registry holds for something else.
 * `existing` is what our registry holds under the items' serials.
 */
export function planClientImport(
  layout: Pick<LegacyLayout, 'table' | 'items'>,
  intermediate: Pick<CertificateRecord, 'serial' | 'certificatePem'>,
  existing: ReadonlyMap<string, CertificateRecord>,
  now: Date,
): ClientImportPlan {
  const issuer = new X509Certificate(intermediate.certificatePem);
  const out: ClientImportPlan = { adopt: [], already: [], refused: [] };
  const activeIds = new Set<string>();
  for (const it of layout.items) {
    const a = it.attributes;
    const serialNumber = a.serialNumber ?? '?';
    const refuse = (reason: RefusalReason, message: string, clientId = a.client_id) => out.refused.push({ serialNumber, ...(clientId ? { clientId } : {}), reason, message });
    const serial = a.serialNumber === undefined ? undefined : decimalToHexSerial(a.serialNumber.trim());
    if (!serial) {
      refuse('malformed_item', `serialNumber ${JSON.stringify(a.serialNumber ?? null)} is not a positive decimal serial`);
      continue;
    }
    let clientId: string;
    try {
      clientId = validateClientId(a.client_id);
    } catch (e) {
      refuse('malformed_item', (e as Error).message, undefined);
      continue;
    }
    const status = a.status;
    if (!(LEGACY_STATUSES as readonly (string | undefined)[]).includes(status)) {
      refuse('unknown_status', `status ${JSON.stringify(status ?? null)} is neither active nor revoked`);
      continue;
    }
    const prior = existing.get(serial);
    if (prior?.kind === 'client' && prior.clientId === clientId && prior.importedFrom === `${layout.table}#${serialNumber}`) {
      // imported by an earlier run: whatever SSM holds now (a rotation delivers there), this item is done
      out.already.push({ clientId, serial });
      continue;
    }
    if (!it.certificatePem) {
      refuse('certificate_missing', `no certificate for ${clientId} in SSM (/clients/${clientId}/certificate)`);
      continue;
    }
    let f: ReturnType<typeof certificateFacts>;
    try {
      f = certificateFacts(it.certificatePem);
    } catch {
      refuse('certificate_mismatch', `/clients/${clientId}/certificate does not hold a PEM certificate`);
      continue;
    }
    if (f.serial !== serial) {
      refuse('certificate_mismatch', `/clients/${clientId}/certificate has serial ${hexToDecimalSerial(f.serial)}, not this item's (a later certificate replaced it)`);
      continue;
    }
    if (f.isCa) {
      refuse('certificate_mismatch', `/clients/${clientId}/certificate is a CA certificate`);
      continue;
    }
    if (!(f.x509.checkIssued(issuer) && f.x509.verify(issuer.publicKey))) {
      refuse('does_not_chain', `the certificate of ${clientId} is not signed by the imported intermediate (issuer ${f.issuer})`);
      continue;
    }
    const cns = f.x509.subject.split('\n').filter((l) => l.startsWith('CN=')).map((l) => l.slice(3));
    if (cns.length !== 1 || cns[0] !== clientId || (a.clientName !== undefined && a.clientName !== clientId)) {
      // the authorizer names a client by its certificate's CN (src/lambda/authorizer.ts)
      refuse('client_id_mismatch', `the certificate's CN ${JSON.stringify(cns.join(','))} and clientName ${JSON.stringify(a.clientName ?? null)} must both equal client_id ${JSON.stringify(clientId)}`);
      continue;
    }
    let keyType: KeyType;
    try {
      keyType = keyTypeOf(f.x509.publicKey);
    } catch (e) {
      refuse('certificate_mismatch', `the certificate of ${clientId}: ${(e as Error).message}`);
      continue;
    }
    const have = existing.get(serial);
    if (have) {
      if (have.fingerprint === f.fingerprint && have.clientId === clientId && have.kind === 'client') out.already.push({ clientId, serial });
      else refuse('conflict', `serial ${serialNumber} is already in the registry for another certificate (${have.kind} ${have.clientId})`);
      continue;
    }
    if (status === 'active') {
      if (activeIds.has(clientId)) {
        refuse('conflict', `a second active certificate for ${clientId}`);
        continue;
      }
      activeIds.add(clientId);
    }
    const revokedAt = Date.parse(a.revokedAt ?? '');
    out.adopt.push({
      serial,
      kind: 'client',
      clientId,
      status: status as 'active' | 'revoked',
      fingerprint: f.fingerprint,
      subject: f.subject,
      issuer: f.issuer,
      issuerSerial: intermediate.serial,
      notBefore: sec(f.notBefore),
      notAfter: sec(f.notAfter),
      keyType,
      publicKey: spkiDer(f.x509.publicKey).toString('base64'),
      // the client holds its key (the old setup generated it); this tool never had it, so a rotation re-issues
      // for that same key and delivers a certificate only
      keyOrigin: 'csr',
      validityDays: daysBetween(f.notBefore, f.notAfter),
      certificatePem: f.x509.toString(),
      createdAt: now.toISOString(),
      ...(status === 'revoked' ? { revokedAt: Number.isFinite(revokedAt) ? new Date(revokedAt).toISOString() : now.toISOString(), revocationReason: 'unspecified' as const } : {}),
      importedFrom: `${layout.table}#${serialNumber}`,
    });
  }
  return out;
}

export interface ImportOptions {
  dryRun?: boolean;
}

export interface ImportResult {
  dryRun: boolean;
  /** created: the CA was recorded by this run; already: a previous import recorded it */
  ca: 'created' | 'already' | 'would-create';
  root: CertificateRecord;
  intermediate: CertificateRecord;
  profile: CaProfile;
  adopted: CertificateRecord[];
  already: { clientId: string; serial: string }[];
  refused: Refusal[];
  truststore?: TruststoreSyncResult & { dryRun?: boolean };
  /** the old bucket's truststore holds the same certificates as ours (undefined when not read) */
  oldTruststoreMatches?: boolean;
  /** references of the CA keys this run put in custody (none when the CA was already imported, or in a dry run) */
  keys: string[];
}

/**
 * Adopts the old CA into this store: its root and intermediate keys into the store's key custody, its certificates
 * and the accepted client records into the registry (client keys are never read), then publishes our truststore,
 * which holds that same intermediate and root. Running it again adopts only what is new.
 * @throws CaError conflict when this store holds another CA; usage when the custody cannot take an existing key
 */
export async function importLegacy(ctx: OperationContext, layout: LegacyLayout, o: ImportOptions = {}): Promise<ImportResult> {
  const now = ctx.clock.now();
  const ca = adoptCa(layout, ctx.policy, now);
  const custody = ctx.store.custody;
  if (!custody.adopt) {
    throw usageError(
      `the ${custody.kind} key custody cannot take the old CA's existing private keys`,
      custody.kind === 'kms'
        ? 'a KMS key made by this tool is generated inside KMS and this tool does not import key material into KMS: import into a store with "keyCustody": "ssm" (a SecureString under its parameterPrefix), then move to KMS later with a new CA'
        : 'import into a store whose key custody is ssm',
    );
  }
  const state = await loadCaState(ctx.store.registry);
  let root: CertificateRecord;
  let intermediate: CertificateRecord;
  let caAction: ImportResult['ca'];
  const keys: string[] = [];
  const byFingerprint = (fp: string) => state.all.find((r) => r.fingerprint === fp);
  const haveRoot = byFingerprint(ca.root.record.fingerprint);
  const haveInter = byFingerprint(ca.intermediate.record.fingerprint);
  if (state.root && (!haveRoot || haveRoot.serial !== state.root.serial)) {
    throw conflict(`${ctx.store.describe()} already holds another CA (root serial ${state.root.serial})`, 'import into a store of its own (another --env), which no CA was bootstrapped in');
  }
  if (haveRoot && haveInter) {
    root = haveRoot;
    intermediate = haveInter;
    caAction = 'already';
  } else if (haveRoot) {
    throw conflict(`the registry holds the imported root but not its intermediate ${ca.intermediate.record.serial}`, 'the CA was changed after an earlier import: compare `ca status` with the old setup');
  } else if (o.dryRun) {
    root = { ...ca.root.record, keyRef: '(not yet)' };
    intermediate = { ...ca.intermediate.record, keyRef: '(not yet)' };
    caAction = 'would-create';
  } else {
    // The keys first: a record never refers to a key custody lacks. A re-run after a crash adopts the same key
    // under the same reference (the custody derives it from the key).
    const rk = await custody.adopt('root', ca.root.record.keyType, ca.root.privateKey);
    const ik = await custody.adopt('intermediate', ca.intermediate.record.keyType, ca.intermediate.privateKey);
    keys.push(rk.keyRef, ik.keyRef);
    root = { ...ca.root.record, keyRef: rk.keyRef };
    intermediate = { ...ca.intermediate.record, keyRef: ik.keyRef };
    await ctx.store.registry.commit([{ op: 'create', record: root }, { op: 'create', record: intermediate }], { atomic: true });
    caAction = 'created';
  }
  // one listing, not a read per item: an old table of thousands of clients costs a few pages, not thousands of reads
  const clientsHere = await ctx.store.registry.list({ kind: 'client' });
  // the registry keys every certificate by its serial alone: a client whose serial is a CA's is refused, not failed on
  const existing = new Map<string, CertificateRecord>([...state.all, root, intermediate, ...clientsHere].map((r) => [r.serial, r]));
  const plan = planClientImport(layout, intermediate, existing, now);
  // A client this store already has an active certificate for (issued here, not imported) keeps it.
  const activeHere = new Set(clientsHere.filter((r) => r.status === 'active').map((r) => r.clientId));
  const adopt: CertificateRecord[] = [];
  for (const r of plan.adopt) {
    if (r.status === 'active' && activeHere.has(r.clientId)) {
      plan.refused.push({ serialNumber: hexToDecimalSerial(r.serial), clientId: r.clientId, reason: 'conflict', message: `${r.clientId} already has an active certificate in this store` });
    } else adopt.push(r);
  }
  let truststore: ImportResult['truststore'];
  if (o.dryRun) {
    if (caAction === 'already') truststore = await syncTruststore(ctx, { dryRun: true });
  } else {
    if (adopt.length) await ctx.store.registry.commit(adopt.map((record): RegistryChange => ({ op: 'create', record })));
    truststore = await syncTruststore(ctx);
  }
  const oldTruststoreMatches =
    layout.truststorePem === undefined ? undefined : sameCertificates(layout.truststorePem, [intermediate.certificatePem, root.certificatePem]);
  return { dryRun: !!o.dryRun, ca: caAction, root, intermediate, profile: ca.profile, adopted: adopt, already: plan.already, refused: plan.refused, truststore, oldTruststoreMatches, keys };
}

/** Whether a PEM bundle holds exactly these certificates, in any order. */
function sameCertificates(bundle: string, pems: string[]): boolean {
  const fps = (text: string) => {
    const out: string[] = [];
    for (const m of text.matchAll(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)) {
      try {
        out.push(sha256Hex(new X509Certificate(m[0]).raw));
      } catch {
        out.push('invalid');
      }
    }
    return out.sort().join(',');
  };
  return fps(bundle) === fps(pems.join('\n'));
}
