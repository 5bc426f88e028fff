import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { certificateFacts } from '../../domain/certificate.js';
import { invalidInput, notFound } from '../../domain/errors.js';
import { pemBlocks } from '../../domain/der.js';
import { validateClientId } from '../../domain/ids.js';
import { keyTypeName } from '../../domain/keys.js';
import { summarize, type CertificateSummary } from '../../domain/reporting.js';
import { emit, openRuntime } from '../runtime.js';
import { readInputFile } from '../input.js';

const EKU: Record<string, string> = { '1.3.6.1.5.5.7.3.1': 'serverAuth', '1.3.6.1.5.5.7.3.2': 'clientAuth' };

function decode(der: Buffer) {
  const x = new X509Certificate(der);
  const f = certificateFacts(der);
  return {
    subject: f.subject,
    issuer: f.issuer,
    serial: f.serial,
    fingerprint: f.fingerprint,
    notBefore: f.notBefore.toISOString(),
    notAfter: f.notAfter.toISOString(),
    isCa: x.ca,
    keyType: keyTypeName(x.publicKey),
    extendedKeyUsage: (x.keyUsage ?? []).map((o) => EKU[o] ?? o),
    subjectAltName: x.subjectAltName ?? null,
  };
}

export async function runInspect(target: string, cmd: Command): Promise<void> {
  const rt = await openRuntime(cmd, { profile: 'read' });
  const now = rt.ctx.clock.now();
  const isFile = /[/\\]|\.(pem|crt|cer)$/i.test(target) || existsSync(target);
  if (isFile) {
    const text = readInputFile(target, 'certificate file', 1024 * 1024);
    let ders: Buffer[];
    try {
      ders = pemBlocks(text, 'CERTIFICATE');
    } catch (e) {
      throw invalidInput(`malformed PEM in ${target}: ${(e as Error).message}`);
    }
    if (!ders.length) throw invalidInput(`no certificate found in ${target}`, 'give a PEM file with a BEGIN CERTIFICATE block');
    const certs: (ReturnType<typeof decode> & { registry: CertificateSummary | null })[] = [];
    for (const der of ders) {
      let d;
      try {
        d = decode(der);
      } catch {
        throw invalidInput(`${target} holds a block that is not a parseable X.509 certificate`);
      }
      const rec = await rt.store.registry.get(d.serial).catch(() => undefined);
      certs.push({ ...d, registry: rec && rec.fingerprint === d.fingerprint ? summarize(rec, now) : null });
    }
    emit(rt, { file: target, certificates: certs }, () =>
      certs
        .map((c) =>
          [
            `subject      ${c.subject}`,
            `issuer       ${c.issuer}`,
            `serial       ${c.serial}`,
            `fingerprint  sha256:${c.fingerprint}`,
            `valid        ${c.notBefore} .. ${c.notAfter}`,
            `key          ${c.keyType}${c.isCa ? ', CA' : ''}`,
            ...(c.extendedKeyUsage.length ? [`eku          ${c.extendedKeyUsage.join(', ')}`] : []),
            ...(c.subjectAltName ? [`san          ${c.subjectAltName}`] : []),
            `registry     ${c.registry ? `${c.registry.status} (${c.registry.kind} ${c.registry.clientId})` : 'not in this registry'}`,
          ].join('\n'),
        )
        .join('\n\n'),
    );
    return;
  }
  validateClientId(target);
  const records = (await rt.store.registry.list({ kind: 'client', clientId: target })).sort((a, b) => b.createdAt.localeCompare(a.createdAt));
  if (!records.length) throw notFound(`unknown client ${target}`, 'see `ca list`');
  const rows: CertificateSummary[] = records.map((r) => summarize(r, now));
  emit(rt, { clientId: target, certificates: rows }, () =>
    [
      `client ${target}: ${rows.length} certificate(s), newest first`,
      ...rows.map((r) =>
        [
          `- ${r.status}  serial ${r.serial}`,
          `  fingerprint  sha256:${r.fingerprint}`,
          `  valid        ${r.notBefore} .. ${r.notAfter} (${r.daysLeft} days left)`,
          `  issuer       ${r.issuer}`,
          `  key          ${r.keyType} (${r.keyOrigin})`,
          ...(r.spiffeId ? [`  spiffe id    ${r.spiffeId}`] : []),
          ...(r.scopes?.length ? [`  scopes       ${r.scopes.join(' ')}`] : []),
          ...(r.audiences?.length ? [`  audiences    ${r.audiences.join(' ')}`] : []),
          ...(r.graceUntil ? [`  grace until  ${r.graceUntil}`] : []),
          ...(r.revokedAt ? [`  revoked      ${r.revokedAt} (${r.revocationReason})`] : []),
        ].join('\n'),
      ),
    ].join('\n'),
  );
}
