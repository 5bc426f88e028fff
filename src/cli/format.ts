import type { CertificateRecord } from '../ports.js';

/** A plain text table: no colours, aligned columns, stable for copy and paste. */
export function table(rows: Record<string, unknown>[], columns: [key: string, title: string][]): string {
  if (!rows.length) return '';
  const cells = rows.map((r) => columns.map(([k]) => (r[k] === undefined || r[k] === null ? '' : String(r[k]))));
  const widths = columns.map(([, t], i) => Math.max(t.length, ...cells.map((c) => c[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map(([, t]) => t)), ...cells.map(line)].join('\n');
}

export const day = (iso: string) => iso.slice(0, 10);

/** The fields every command's JSON carries for a certificate it touched. */
export function certificateJson(r: CertificateRecord) {
  return {
    clientId: r.clientId,
    serial: r.serial,
    fingerprint: r.fingerprint,
    status: r.status,
    subject: r.subject,
    issuer: r.issuer,
    issuerSerial: r.issuerSerial ?? null,
    notBefore: r.notBefore,
    notAfter: r.notAfter,
    keyType: r.keyType,
    keyOrigin: r.keyOrigin,
    ...(r.spiffeId ? { spiffeId: r.spiffeId } : {}),
    ...(r.validityDays !== undefined ? { validityDays: r.validityDays, validityCapped: isCapped(r) } : {}),
  };
}

/** The certificate ends before the length it was asked for: cut at its issuer's end (RFC 5280 path validation). */
export function isCapped(r: CertificateRecord): boolean {
  if (r.validityDays === undefined) return false;
  // it was asked to end `validityDays` after it was made (to the second); anything clearly earlier was cut
  return Date.parse(r.notAfter) < Date.parse(r.createdAt) + r.validityDays * 86_400_000 - 60_000;
}

export function certificateLines(r: CertificateRecord, indent = '  '): string {
  return [
    `${indent}serial       ${r.serial}`,
    `${indent}fingerprint  sha256:${r.fingerprint}`,
    `${indent}subject      ${r.subject}`,
    `${indent}issuer       ${r.issuer}`,
    `${indent}valid        ${r.notBefore} .. ${r.notAfter}${isCapped(r) ? ` (${r.validityDays} days asked: capped at its issuer's end)` : ''}`,
    ...(r.spiffeId ? [`${indent}spiffe id    ${r.spiffeId}`] : []),
  ].join('\n');
}

/** JSON of one re-issued client (renew, rotate). */
export function reissueJson(r: { clientId: string; oldSerial: string; newSerial?: string; record?: CertificateRecord; delivered: string[]; rekeyed: boolean }) {
  return { clientId: r.clientId, oldSerial: r.oldSerial, ...(r.record ? certificateJson(r.record) : {}), rekeyed: r.rekeyed, paths: r.delivered };
}

export function reissueText(rs: { clientId: string; oldSerial: string; newSerial?: string; delivered: string[] }[], dryRun: boolean, verb: string, graceDays: number): string {
  if (!rs.length) return dryRun ? `dry run: nothing to ${verb}` : `nothing to ${verb}`;
  const head = dryRun ? `dry run: would ${verb} ${rs.length} client certificate(s)` : `${verb === 'renew' ? 'Renewed' : 'Re-issued'} ${rs.length} client certificate(s); the old ones stay valid for ${graceDays} days`;
  return [head, table(rs.map((r) => ({ client: r.clientId, old: r.oldSerial, new: r.newSerial ?? '' })), [['client', 'CLIENT'], ['old', 'OLD SERIAL'], ['new', 'NEW SERIAL']])].join('\n');
}
