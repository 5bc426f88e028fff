import type { CertificateRecord } from '../ports.js';
import { openSigner, requireCa, trustedIntermediates } from './ca-state.js';
import type { OperationContext } from './context.js';
import { crlDer, crlFacts, crlTbs, type CrlEntry } from './crl.js';
import { pemBlocks } from './der.js';
import { DAY_MS, DEFAULT_CRL_DAYS, crlName, parseCrlDays } from './policy.js';

export { crlName };

export interface CrlOptions {
  /** days from thisUpdate to nextUpdate (default DEFAULT_CRL_DAYS) */
  days?: number;
  /** only the CRLs of these CA certificates (serials); absent: every trusted one, the root included */
  issuers?: string[];
  /** re-sign only a CRL whose published copy is missing, expired, or lists other certificates than the registry */
  onlyStale?: boolean;
  /** with onlyStale: these CAs' CRLs are re-signed whatever their published copy says (a revocation just made) */
  resign?: string[];
  dryRun?: boolean;
}

export interface PublishedCrl {
  issuerSerial: string;
  issuer: string;
  /** the CRL number it carries (in a dry run: the one it would get; with `current`: the published one's) */
  crlNumber: number;
  thisUpdate: string;
  nextUpdate: string;
  /** serials on the list */
  revoked: string[];
  /** the DER then the PEM location */
  files: string[];
  /** published: signed and written now (in a dry run: would be); current: the published copy already says it all */
  action: 'published' | 'current';
}

export interface CrlResult {
  dryRun: boolean;
  crls: PublishedCrl[];
}

/**
 * The entries of one CA's CRL. An intermediate's: its revoked client certificates not yet expired (RFC 5280 3.3
 * lets expired ones go). The root's: the intermediates it issued that were retired (removed from the truststore)
 * and have not expired, as cessationOfOperation, so that a relying party still holding an older truststore stops
 * trusting them too.
 */
function entriesOf(ca: CertificateRecord, revoked: CertificateRecord[], retired: CertificateRecord[], now: Date): CrlEntry[] {
  const live = (r: CertificateRecord) => r.issuerSerial === ca.serial && Date.parse(r.notAfter) > now.getTime();
  const entries: CrlEntry[] =
    ca.kind === 'root'
      ? retired.filter((r) => r.status === 'retired' && live(r)).map((r) => ({ serial: r.serial, revokedAt: new Date(r.retiredAt ?? r.createdAt), reason: 'cessationOfOperation' }))
      : revoked.filter(live).map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt ?? r.createdAt), ...(r.revocationReason ? { reason: r.revocationReason } : {}) }));
  return entries.sort((a, b) => a.serial.localeCompare(b.serial));
}

const sameSerials = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();
const stripZeros = (s: string) => s.replace(/^0+(?=.)/, '');

/**
 * Signs and publishes the CRL of each CA certificate still trusted: every trusted intermediate (the issuing one and
 * the superseded ones still in the truststore), and the root, whose CRL a relying party that checks the whole chain
 * needs (OpenSSL's crl_check_all, which Node's TLS `crl` option, nginx `ssl_crl` and Envoy turn on), each signed
 * with its own key through the custody. For each: the next CRL number is recorded on the intermediate's
 * registry record (a conditional commit) before the CRL that carries it is published, so a crash between the two
 * makes the next run skip that number, never repeat it. Run under the store lock.
 * @throws CaError notFound without a CA; the custody's and the publisher's errors
 */
export async function publishCrls(ctx: OperationContext, o: CrlOptions = {}): Promise<CrlResult> {
  const days = parseCrlDays(o.days ?? DEFAULT_CRL_DAYS);
  const state = await requireCa(ctx.store.registry);
  const issuers = [...trustedIntermediates(state), state.root].filter((i) => !o.issuers || o.issuers.includes(i.serial));
  const now = new Date(Math.floor(ctx.clock.now().getTime() / 1000) * 1000);
  const revoked = issuers.length ? await ctx.store.registry.list({ kind: 'client', status: 'revoked' }) : [];
  const crls: PublishedCrl[] = [];
  for (const issuer of issuers) {
    const entries = entriesOf(issuer, revoked, state.retired, now);
    const name = crlName(issuer);
    const files = ctx.store.crls.locations(name);
    const serials = entries.map((e) => stripZeros(e.serial));
    if (o.onlyStale && !o.resign?.includes(issuer.serial)) {
      const der = await ctx.store.crls.current(name);
      let facts: ReturnType<typeof crlFacts> | undefined;
      try {
        facts = der ? crlFacts(der) : undefined;
      } catch {
        facts = undefined; // unreadable: re-sign it
      }
      if (facts && facts.nextUpdate && facts.nextUpdate.getTime() > now.getTime() && sameSerials(facts.serials, serials)) {
        crls.push({ issuerSerial: issuer.serial, issuer: issuer.subject, crlNumber: facts.crlNumber ?? 0, thisUpdate: facts.thisUpdate.toISOString(), nextUpdate: facts.nextUpdate.toISOString(), revoked: entries.map((e) => e.serial), files, action: 'current' });
        continue;
      }
    }
    const crlNumber = (issuer.crlNumber ?? 0) + 1;
    const nextUpdate = new Date(now.getTime() + days * DAY_MS);
    const planned: PublishedCrl = { issuerSerial: issuer.serial, issuer: issuer.subject, crlNumber, thisUpdate: now.toISOString(), nextUpdate: nextUpdate.toISOString(), revoked: entries.map((e) => e.serial), files, action: 'published' };
    if (o.dryRun) {
      crls.push(planned);
      continue;
    }
    // the key is opened (and checked against the certificate) before anything is recorded
    const signer = await openSigner(ctx.store.custody, issuer);
    const issuerDer = pemBlocks(issuer.certificatePem, 'CERTIFICATE')[0]!;
    const tbs = crlTbs({ issuerCertificateDer: issuerDer, keyType: signer.keyType, crlNumber, thisUpdate: now, nextUpdate, revoked: entries });
    const der = crlDer(tbs, await signer.sign(tbs), signer.keyType);
    await ctx.store.registry.commit([{ op: 'update', expect: issuer.status, record: { ...issuer, crlNumber } }], { atomic: true });
    await ctx.store.crls.publish(name, der);
    crls.push(planned);
  }
  return { dryRun: !!o.dryRun, crls };
}

/** The CAs that issued some of these certificates: the CRLs a revocation changes. */
export function issuersOf(records: CertificateRecord[]): string[] {
  return [...new Set(records.map((r) => r.issuerSerial).filter((s): s is string => !!s))];
}

/**
 * The CRLs a revocation refreshes: those of the issuers it touched (`revokedNow`: re-signed; `alreadyRevoked`:
 * re-signed only when their published CRL misses them, as after a run that stopped between its commit and its
 * CRLs), and the root's when it is missing or stale, so the whole chain has a CRL.
 */
export async function refreshAfterRevocation(ctx: OperationContext, o: { revokedNow: CertificateRecord[]; alreadyRevoked: CertificateRecord[]; days?: number; dryRun?: boolean }): Promise<CrlResult> {
  const { root } = await requireCa(ctx.store.registry);
  const resign = issuersOf(o.revokedNow);
  const issuers = [...new Set([...resign, ...issuersOf(o.alreadyRevoked), root.serial])];
  return publishCrls(ctx, { issuers, days: o.days, dryRun: o.dryRun, onlyStale: true, resign });
}
