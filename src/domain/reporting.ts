import type { CertificateRecord, CertStatus, TruststoreState } from '../ports.js';
import { isStillAccepted, loadCaState, requireCa, rotationUnfinished } from './ca-state.js';
import type { OperationContext } from './context.js';
import { DAY_MS } from './policy.js';

/** The status a person cares about: the stored one, or `expired` once notAfter has passed. */
export type EffectiveStatus = CertStatus | 'expired' | 'grace-ended';

export function effectiveStatus(r: CertificateRecord, now: Date): EffectiveStatus {
  if (r.status === 'revoked' || r.status === 'retired') return r.status;
  if (Date.parse(r.notAfter) <= now.getTime()) return 'expired';
  if (r.status === 'superseded' && r.kind === 'client' && !isStillAccepted(r, now)) return 'grace-ended';
  return r.status;
}

/** The record as shown by list/inspect and --json: no certificate body, days left added. */
export function summarize(r: CertificateRecord, now: Date) {
  return {
    clientId: r.clientId,
    kind: r.kind,
    serial: r.serial,
    fingerprint: r.fingerprint,
    status: effectiveStatus(r, now),
    subject: r.subject,
    issuer: r.issuer,
    issuerSerial: r.issuerSerial ?? null,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    daysLeft: Math.floor((Date.parse(r.notAfter) - now.getTime()) / DAY_MS),
    keyType: r.keyType,
    keyOrigin: r.keyOrigin,
    ...(r.spiffeId ? { spiffeId: r.spiffeId } : {}),
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
}

/** Client certificates: by default the current one per client (active, or in grace); `all` includes history. */
export async function listClients(ctx: OperationContext, o: ListOptions = {}): Promise<CertificateSummary[]> {
  await requireCa(ctx.store.registry);
  const now = ctx.clock.now();
  const rows = (await ctx.store.registry.list({ kind: 'client' })).map((r) => summarize(r, now));
  const filtered = o.status ? rows.filter((r) => r.status === o.status) : o.all ? rows : rows.filter((r) => r.status === 'active' || r.status === 'superseded');
  return filtered.sort((a, b) => a.clientId.localeCompare(b.clientId) || b.notBefore.localeCompare(a.notBefore));
}

export interface StatusReport {
  store: string;
  initialized: boolean;
  root?: CertificateSummary;
  intermediates: (CertificateSummary & { clients: Record<string, number> })[];
  clients: Record<string, number>;
  truststore?: TruststoreState & { inSync: boolean; certificates: number };
  warnings: string[];
}

/** The hierarchy at a glance: root, intermediates with client counts by status, expiries, warnings. */
export async function status(ctx: OperationContext, warnDays = 30): Promise<StatusReport> {
  const now = ctx.clock.now();
  const state = await loadCaState(ctx.store.registry);
  const report: StatusReport = { store: ctx.store.describe(), initialized: !!state.root, intermediates: [], clients: {}, warnings: [] };
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
  const inters = [...(state.issuing ? [state.issuing] : []), ...state.previous, ...state.retired.filter((r) => r.issuerSerial === state.root!.serial)];
  report.intermediates = inters.map((i) => ({ ...summarize(i, now), clients: count(clients.filter((c) => c.issuerSerial === i.serial)) }));
  report.clients = count(clients);
  const soon = (s: CertificateSummary, what: string) => {
    if (s.status !== 'retired' && s.status !== 'revoked' && s.daysLeft < warnDays) {
      report.warnings.push(s.daysLeft < 0 ? `${what} expired on ${s.notAfter}` : `${what} expires in ${s.daysLeft} days (${s.notAfter})`);
    }
  };
  soon(report.root, 'root CA');
  for (const i of report.intermediates) if (i.status === 'active' || i.status === 'superseded') soon(i, `intermediate ${i.subject}`);
  for (const c of clients) {
    if (c.status === 'active') soon(summarize(c, now), `client ${c.clientId}`);
  }
  if (!state.issuing) report.warnings.push('no issuing intermediate: run `ca bootstrap` to finish the setup');
  else if (rotationUnfinished(state.issuing)) report.warnings.push(`the rotation to ${state.issuing.subject} is unfinished: run \`ca rotate-intermediate\` to finish it`);
  const published = await ctx.store.truststore.current();
  if (published) {
    const { buildTruststore, sameTruststore } = await import('./truststore.js');
    const inSync = sameTruststore(published.pem, buildTruststore(state));
    report.truststore = { ...published, inSync, certificates: (published.pem.match(/BEGIN CERTIFICATE/g) ?? []).length };
    if (!inSync) report.warnings.push('the published truststore differs from the registry: run `ca truststore publish`');
  } else {
    report.warnings.push('no truststore published: run `ca truststore publish`');
  }
  return report;
}
