import type { CertificateRecord, CertificateRegistry, Clock, KeyCustody, CaSigner } from '../ports.js';
import { notFound } from './errors.js';

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

export async function openSigner(custody: KeyCustody, ca: CertificateRecord): Promise<CaSigner> {
  if (!ca.keyRef) throw notFound(`CA certificate ${ca.serial} has no key reference`);
  return custody.open(ca.keyRef, ca.keyType);
}

export function isExpired(r: CertificateRecord, clock: Clock): boolean {
  return Date.parse(r.notAfter) <= clock.now().getTime();
}

/** A client certificate the authorizer would still accept, judged on the record alone. */
export function isStillAccepted(r: CertificateRecord, now: Date): boolean {
  const t = now.getTime();
  if (t < Date.parse(r.notBefore) || t >= Date.parse(r.notAfter)) return false;
  if (r.status === 'active') return true;
  if (r.status === 'superseded') return r.graceUntil !== undefined && t < Date.parse(r.graceUntil);
  return false;
}
