import { createPublicKey, X509Certificate } from 'node:crypto';
import type { CertificateRecord, CertificateRegistry, Clock, KeyCustody, CaSigner } from '../ports.js';
import { invalidInput, notFound } from './errors.js';

/** The CA hierarchy as the registry holds it. */
export interface CaState {
  root?: CertificateRecord;
  /** the intermediate that issues now */
  issuing?: CertificateRecord;
  /** superseded intermediates still in the truststore, newest first */
  previous: CertificateRecord[];
  retired: CertificateRecord[];
  /** every CA record (all roots, all intermediates), for lookups by serial */
  all: CertificateRecord[];
}

const newestFirst = (a: CertificateRecord, b: CertificateRecord) => b.createdAt.localeCompare(a.createdAt);

export async function loadCaState(registry: CertificateRegistry): Promise<CaState> {
  const [roots, inters] = await Promise.all([registry.list({ kind: 'root' }), registry.list({ kind: 'intermediate' })]);
  const root = roots.filter((r) => r.status === 'active').sort(newestFirst)[0];
  const mine = inters.filter((i) => root && i.issuerSerial === root.serial).sort(newestFirst);
  return {
    root,
    issuing: mine.find((i) => i.status === 'active'),
    previous: mine.filter((i) => i.status === 'superseded'),
    retired: inters.filter((i) => i.status === 'retired' || !root || i.issuerSerial !== root.serial),
    all: [...roots, ...inters],
  };
}

/** The CA state of a store that must already be bootstrapped. */
export async function requireCa(registry: CertificateRegistry): Promise<CaState & { root: CertificateRecord; issuing: CertificateRecord }> {
  const s = await loadCaState(registry);
  if (!s.root) throw notFound('no CA in this store yet', 'run `ca bootstrap` first (or pick the store with --env/--dir)');
  if (!s.issuing) throw notFound('the CA has no issuing intermediate (an earlier bootstrap or rotation stopped midway)', 'run `ca bootstrap` again to finish it');
  return s as CaState & { root: CertificateRecord; issuing: CertificateRecord };
}

/** Intermediates the truststore must hold: the issuing one and every superseded, not retired, one. */
export function trustedIntermediates(s: CaState): CertificateRecord[] {
  return [...(s.issuing ? [s.issuing] : []), ...s.previous];
}

/** An intermediate made by a rotation that has not recorded its end (records older than these fields carry neither). */
export function rotationUnfinished(intermediate: CertificateRecord): boolean {
  return !!intermediate.rotatedFrom && !intermediate.rotationCompletedAt;
}

/**
 * Opens a CA's key for signing, after checking that it is the key of the CA's certificate: a swapped or
 * replaced key file (or parameter, or KMS key) would sign certificates that no validator accepts.
 * @throws CaError notFound without a key reference or key; invalidInput when the key is not the certificate's
 */
export async function openSigner(custody: KeyCustody, ca: CertificateRecord): Promise<CaSigner> {
  if (!ca.keyRef) throw notFound(`CA certificate ${ca.serial} has no key reference`);
  const signer = await custody.open(ca.keyRef, ca.keyType);
  // Compared as re-encoded SPKI: the same key can arrive in more than one DER spelling (e.g. from KMS).
  let certified: Buffer;
  try {
    certified = new X509Certificate(ca.certificatePem).publicKey.export({ type: 'spki', format: 'der' });
  } catch (e) {
    throw invalidInput(`the registry record of CA certificate ${ca.serial} holds no readable certificate`, 'restore the registry from backup', e);
  }
  let held: Buffer | undefined;
  try {
    held = createPublicKey({ key: Buffer.from(signer.publicKeySpki), format: 'der', type: 'spki' }).export({ type: 'spki', format: 'der' });
  } catch {
    held = undefined;
  }
  if (!held || !held.equals(certified)) {
    throw invalidInput(
      `CA key ${custody.describeKey(ca.keyRef)} does not belong to certificate ${ca.serial} (${ca.subject})`,
      "the key was replaced or swapped with another CA's key: restore the one made with this certificate from backup",
    );
  }
  return signer;
}

export function isExpired(r: CertificateRecord, clock: Clock): boolean {
  return Date.parse(r.notAfter) <= clock.now().getTime();
}

// Whether a client certificate is still accepted: one rule, in acceptance.ts (the authorizer's bundle imports it).
export { acceptance, isStillAccepted, type Acceptance } from './acceptance.js';
