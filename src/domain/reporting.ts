import type { CaProfile, CertificateRecord, CertStatus, TruststoreState } from '../ports.js';
import { isStillAccepted, loadCaState, requireCa, rotationUnfinished } from './ca-state.js';
import type { OperationContext } from './context.js';
import { DAY_MS, crlName, expandCrlDistributionPoint } from './policy.js';
import { cleanupReport, type CleanupReport } from './cleanup.js';

/** The status a person cares about: the stored one, or `expired` once notAfter has passed. */
export type EffectiveStatus = CertStatus | 'expired' | 'grace-ended';

export function effectiveStatus(r: CertificateRecord, now: Date): EffectiveStatus {
  if (r.status === 'revoked' || r.status === 'retired') return r.status;
  if (Date.parse(r.notAfter) <= now.getTime()) return 'expired';
  if (r.status === 'superseded' && r.kind === 'client' && !isStillAccepted(r, now)) return 'grace-ended';
  return r.status;
}

/** The certificate ends before the length it was asked for: cut at its issuer's end (RFC 5280 path validation). */
export function isCapped(r: CertificateRecord): boolean {
  if (r.validityDays === undefined) return false;
  // it was asked to end `validityDays` after it was made (to the second); anything clearly earlier was cut
  return Date.parse(r.notAfter) < Date.parse(r.createdAt) + r.validityDays * 86_400_000 - 60_000;
}

/**
 * The one certificate object of every command's --json (schemas/cli/common.schema.json#/$defs/certificate):
 * the same field names and value formats wherever a certificate is shown. No certificate body, no key.
 */
export function certificateObject(r: CertificateRecord) {
  return {
    clientId: r.clientId,
    kind: r.kind,
    serial: r.serial,
    fingerprint: r.fingerprint,
    status: r.status as EffectiveStatus,
    subject: r.subject,
    issuer: r.issuer,
    issuerSerial: r.issuerSerial ?? null,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    keyType: r.keyType,
    keyOrigin: r.keyOrigin,
    ...(r.spiffeId ? { spiffeId: r.spiffeId } : {}),
    ...(r.crlDistributionPoint && r.issuerSerial ? { crlDistributionPoint: expandCrlDistributionPoint(r.crlDistributionPoint, r.issuerSerial) } : {}),
    ...(r.validityDays !== undefined ? { validityDays: r.validityDays, validityCapped: isCapped(r) } : {}),
    ...(r.scopes?.length ? { scopes: r.scopes } : {}),
    ...(r.audiences?.length ? { audiences: r.audiences } : {}),
  };
}

/** The record as shown by list/inspect/status: the certificate object with its status now, days left and its history. */
export function summarize(r: CertificateRecord, now: Date) {
  return {
    ...certificateObject(r),
    status: effectiveStatus(r, now),
    daysLeft: Math.floor((Date.parse(r.notAfter) - now.getTime()) / DAY_MS),
    ...(r.graceUntil ? { graceUntil: r.graceUntil } : {}),
    ...(r.supersededBy ? { supersededBy: r.supersededBy } : {}),
    ...(r.revokedAt ? { revokedAt: r.revokedAt, revocationReason: r.revocationReason } : {}),
    ...(r.retiredAt ? { retiredAt: r.retiredAt } : {}),
  };
}
export type CertificateSummary = ReturnType<typeof summarize>;

export interface ListOptions {
  status?: EffectiveStatus;
  all?: boolean;
  /** with `all`: the retention period, to say what was cleaned up (and list the archived records, marked) */
  retentionDays?: number;
}

/** A listed certificate; `archivedAt` marks one cleaned out of the registry into the store's archive. */
export type ListedCertificate = CertificateSummary & { archivedAt?: string };

/**
 * Client certificates: by default the current one per client (active, or in grace); `all` includes history and,
 * given `retentionDays`, the records cleaned up into the archive (marked `archivedAt`) with a clean-up summary.
 */
export async function listClients(ctx: OperationContext, o: ListOptions = {}): Promise<ListedCertificate[]> {
  return (await listWithCleanup(ctx, o)).certificates;
}

/** listClients, with what `all` and `retentionDays` say about clean-up (see cleanupReport). */
export async function listWithCleanup(ctx: OperationContext, o: ListOptions = {}): Promise<{ certificates: ListedCertificate[]; cleanup?: CleanupReport }> {
  await requireCa(ctx.store.registry);
  const now = ctx.clock.now();
  const records = await ctx.store.registry.list({ kind: 'client' });
  const rows: ListedCertificate[] = records.map((r) => summarize(r, now));
  let cleanup: CleanupReport | undefined;
  if (o.all && o.retentionDays !== undefined) {
    const c = await cleanupReport(ctx, o.retentionDays, records);
    cleanup = c.report;
    for (const a of c.archived) rows.push({ ...summarize(a.record, now), archivedAt: a.archivedAt });
  }
  const filtered = o.status ? rows.filter((r) => r.status === o.status) : o.all ? rows : rows.filter((r) => r.status === 'active' || r.status === 'superseded');
  return { certificates: filtered.sort((a, b) => a.clientId.localeCompare(b.clientId) || b.notBefore.localeCompare(a.notBefore)), cleanup };
}

/** The soonest expiry of one kind of certificate still in use. */
export interface SoonestExpiry {
  kind: 'root' | 'intermediate' | 'client';
  /** subject of a CA certificate, client id of a client's */
  name: string;
  serial: string;
  notAfter: string;
  daysLeft: number;
  /** how many certificates of this kind are in use */
  count: number;
}

export interface StatusReport {
  store: string;
  initialized: boolean;
  root?: CertificateSummary;
  intermediates: (CertificateSummary & { clients: Record<string, number> })[];
  clients: Record<string, number>;
  truststore?: TruststoreState & { inSync: boolean; certificates: number; drift: string[] };
  /** the CA profile recorded at bootstrap, which rotation and issuance use */
  profile?: CaProfile;
  /** per kind, the certificate in use that expires first */
  soonest: SoonestExpiry[];
  /** a rotation stopped midway: active clients still under a previous intermediate */
  unfinishedRotation?: { clients: number; under: string[] };
  /** every problem, one line each (many clients expiring make one line, not one per client) */
  warnings: string[];
}

const daysLeft = (r: CertificateRecord, now: Date) => Math.floor((Date.parse(r.notAfter) - now.getTime()) / DAY_MS);
const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * The hierarchy at a glance: root, intermediates with client counts by status, the soonest expiry per kind,
 * and every warning a scheduled job should fail on (`ca status --check`): something expiring within
 * `warnDays`, a truststore out of step with the registry or edited by hand, an unfinished rotation, an
 * issuing intermediate near its end.
 */
export async function status(ctx: OperationContext, warnDays = 30): Promise<StatusReport> {
  const now = ctx.clock.now();
  const state = await loadCaState(ctx.store.registry);
  const report: StatusReport = { store: ctx.store.describe(), initialized: !!state.root, intermediates: [], clients: {}, soonest: [], warnings: [] };
  if (!state.root) return report;
  const clients = await ctx.store.registry.list({ kind: 'client' });
  const count = (rs: CertificateRecord[]) => {
    const c: Record<string, number> = {};
    for (const r of rs) {
      const s = effectiveStatus(r, now);
      c[s] = (c[s] ?? 0) + 1;
    }
    return c;
  };
  report.root = summarize(state.root, now);
  report.profile = ctx.policy;
  const inters = [...(state.issuing ? [state.issuing] : []), ...state.previous, ...state.retired.filter((r) => r.issuerSerial === state.root!.serial)];
  report.intermediates = inters.map((i) => ({ ...summarize(i, now), clients: count(clients.filter((c) => c.issuerSerial === i.serial)) }));
  report.clients = count(clients);

  const inUseInters = [...(state.issuing ? [state.issuing] : []), ...state.previous];
  const inUseClients = clients.filter((c) => c.status === 'active' && effectiveStatus(c, now) === 'active');
  const soonest = (kind: SoonestExpiry['kind'], rs: CertificateRecord[], name: (r: CertificateRecord) => string) => {
    const first = [...rs].sort((a, b) => a.notAfter.localeCompare(b.notAfter))[0];
    if (first) report.soonest.push({ kind, name: name(first), serial: first.serial, notAfter: first.notAfter, daysLeft: daysLeft(first, now), count: rs.length });
  };
  soonest('root', [state.root], (r) => r.subject);
  soonest('intermediate', inUseInters, (r) => r.subject);
  soonest('client', inUseClients, (r) => r.clientId);

  const expiring = (r: CertificateRecord) => daysLeft(r, now) < warnDays;
  if (expiring(state.root)) report.warnings.push(`root CA expires ${whenLeft(state.root, now)}: replace the CA with \`ca bootstrap --force\` before then`);
  // A CA certificate near its end is a warning when nothing newer takes over from it: the root never has a
  // successor in place (a new CA is `ca bootstrap --force`), the issuing intermediate is by definition the newest.
  // A previous intermediate's end is expected (the issuing one succeeds it): its clients still under it are the
  // unfinished-rotation and client warnings below, so it is no warning of its own.
  if (state.issuing && expiring(state.issuing)) {
    const rootTooSoon = daysLeft(state.root, now) - daysLeft(state.issuing, now) < 1;
    report.warnings.push(
      `the issuing intermediate ${state.issuing.subject} expires ${whenLeft(state.issuing, now)} and has no successor: ${
        rootTooSoon ? 'a new intermediate cannot outlive the root, which ends then too: replace the CA with `ca bootstrap --force`' : 'run `ca rotate-intermediate`'
      }`,
    );
  }
  const expiredActive = clients.filter((c) => c.status === 'active' && effectiveStatus(c, now) === 'expired');
  if (expiredActive.length) report.warnings.push(`${plural(expiredActive.length, 'active client certificate')} expired (${listed(expiredActive)}): renew them with \`ca renew <id>\``);
  const soon = inUseClients.filter(expiring).sort((a, b) => a.notAfter.localeCompare(b.notAfter));
  if (soon.length) report.warnings.push(`${plural(soon.length, 'client certificate')} expire within ${warnDays} days, the first ${soon[0]!.clientId} ${whenLeft(soon[0]!, now)} (${listed(soon)}): \`ca renew --all\` renews every one`);
  if (!state.issuing) report.warnings.push('no issuing intermediate: run `ca bootstrap` to finish the setup');
  else {
    const behind = inUseClients.filter((c) => c.issuerSerial !== state.issuing!.serial && state.previous.some((p) => p.serial === c.issuerSerial));
    if (behind.length || rotationUnfinished(state.issuing)) {
      const under = [...new Set(behind.map((c) => c.issuerSerial!))];
      report.unfinishedRotation = { clients: behind.length, under };
      report.warnings.push(
        behind.length
          ? `a rotation is unfinished: ${plural(behind.length, 'active client')} still under the previous intermediate: run \`ca rotate-intermediate\` to finish it`
          : `the rotation to ${state.issuing.subject} is unfinished: run \`ca rotate-intermediate\` to finish it`,
      );
    }
  }

  // once CRLs are in use (a CA record carries a CRL number), a trusted CA without a current CRL is a warning: a
  // relying party that checks the whole chain (nginx, Envoy, Node's TLS) refuses every client under it
  const cas = [state.root, ...inUseInters];
  if ([state.root, ...inters].some((r) => r.crlNumber !== undefined)) {
    const { crlFacts } = await import('./crl.js');
    for (const r of cas) {
      const der = await ctx.store.crls.current(crlName(r));
      let next: Date | undefined;
      try {
        next = der ? crlFacts(der).nextUpdate : undefined;
      } catch {
        next = undefined;
      }
      if (!der) report.warnings.push(`no CRL published for ${r.subject} (${r.serial}): run \`ca crl\``);
      else if (!next || next.getTime() <= now.getTime()) report.warnings.push(`the CRL of ${r.subject} (${r.serial}) is out of date (nextUpdate ${next?.toISOString() ?? 'unreadable'}): run \`ca crl\``);
    }
  }

  const published = await ctx.store.truststore.current();
  if (published) {
    const { buildTruststore, sameTruststore } = await import('./truststore.js');
    const inSync = sameTruststore(published.pem, buildTruststore(state));
    const drift = await ctx.store.truststore.drift();
    report.truststore = { ...published, inSync, certificates: (published.pem.match(/BEGIN CERTIFICATE/g) ?? []).length, drift };
    if (!inSync) report.warnings.push('the published truststore differs from the registry: run `ca truststore publish`');
    for (const d of drift) report.warnings.push(`truststore: ${d}: run \`ca truststore publish\` to repair it`);
  } else {
    report.warnings.push('no truststore published: run `ca truststore publish`');
  }
  return report;
}

function whenLeft(r: CertificateRecord, now: Date): string {
  const d = daysLeft(r, now);
  return d < 0 ? `on ${r.notAfter.slice(0, 10)} (expired)` : `in ${plural(d, 'day')} (${r.notAfter.slice(0, 10)})`;
}

function listed(rs: CertificateRecord[]): string {
  return rs.slice(0, 5).map((r) => r.clientId).join(', ') + (rs.length > 5 ? `, and ${rs.length - 5} more` : '');
}
