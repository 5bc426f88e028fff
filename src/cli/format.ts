import { resolve } from 'node:path';
import type { CertificateRecord } from '../ports.js';
import { certificateObject, isCapped } from '../domain/reporting.js';

/** A plain text table: no colours, aligned columns, stable for copy and paste. */
export function table(rows: Record<string, unknown>[], columns: [key: string, title: string][]): string {
  if (!rows.length) return '';
  const cells = rows.map((r) => columns.map(([k]) => (r[k] === undefined || r[k] === null ? '' : String(r[k]))));
  const widths = columns.map(([, t], i) => Math.max(t.length, ...cells.map((c) => c[i]!.length)));
  const line = (vals: string[]) => vals.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(columns.map(([, t]) => t)), ...cells.map(line)].join('\n');
}

export const day = (iso: string) => iso.slice(0, 10);

/**
 * The action word of a --json result, the same in a dry run (where `dryRun: true` says it was not done):
 * the domain's `would-issue` is `issued` with `dryRun: true`.
 */
export function actionWord(action: string): string {
  const m = /^would-(.+)$/.exec(action);
  if (!m) return action;
  return m[1]!.endsWith('e') ? `${m[1]}d` : `${m[1]}ed`;
}

/** Where the store publishes the truststore: an absolute path (local store) or an S3 URI (aws store). */
export function truststoreFile(config: { store: string; dir: string; aws?: { bucket?: string; truststoreKey?: string } }): string {
  return config.store === 'local' ? resolve(config.dir, 'truststore.pem') : `s3://${config.aws?.bucket}/${config.aws?.truststoreKey || 'truststore.pem'}`;
}

/** The fields every command's JSON carries for a certificate it touched (the one certificate object). */
export const certificateJson = certificateObject;
export { isCapped };

export function certificateLines(r: CertificateRecord, indent = '  '): string {
  return [
    `${indent}serial       ${r.serial}`,
    `${indent}fingerprint  sha256:${r.fingerprint}`,
    `${indent}subject      ${r.subject}`,
    `${indent}issuer       ${r.issuer}`,
    `${indent}valid        ${r.notBefore} .. ${r.notAfter}${isCapped(r) ? ` (${r.validityDays} days asked: capped at its issuer's end)` : ''}`,
    ...(r.spiffeId ? [`${indent}spiffe id    ${r.spiffeId}`] : []),
    ...(r.scopes?.length ? [`${indent}scopes       ${r.scopes.join(' ')}`] : []),
    ...(r.audiences?.length ? [`${indent}audiences    ${r.audiences.join(' ')}`] : []),
  ].join('\n');
}

/** JSON of one re-issued client (renew, rotate). */
export function reissueJson(r: { clientId: string; oldSerial: string; newSerial?: string; record?: CertificateRecord; delivered: string[]; rekeyed: boolean }) {
  return { clientId: r.clientId, oldSerial: r.oldSerial, ...(r.record ? certificateJson(r.record) : {}), rekeyed: r.rekeyed, files: r.delivered };
}

export function reissueText(rs: { clientId: string; oldSerial: string; newSerial?: string; delivered: string[] }[], dryRun: boolean, verb: string, graceDays: number): string {
  if (!rs.length) return dryRun ? `dry run: nothing to ${verb}` : `nothing to ${verb}`;
  const head = dryRun ? `dry run: would ${verb} ${rs.length} client certificate(s)` : `${verb === 'renew' ? 'Renewed' : 'Re-issued'} ${rs.length} client certificate(s); the old ones stay valid for ${graceDays} days`;
  return [head, table(rs.map((r) => ({ client: r.clientId, old: r.oldSerial, new: r.newSerial ?? '' })), [['client', 'CLIENT'], ['old', 'OLD SERIAL'], ['new', 'NEW SERIAL']])].join('\n');
}
