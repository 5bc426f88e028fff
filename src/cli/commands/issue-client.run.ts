import type { Command } from 'commander';
import { readFileSync, statSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { invalidInput, usageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { checkCsr, MAX_CSR_BYTES } from '../../domain/csr.js';
import { issueClient } from '../../domain/issuance.js';
import { parseKeyType } from '../../domain/keys.js';
import { parseProvisionFile, provision } from '../../domain/provision.js';
import { validateDays } from '../../domain/policy.js';
import { certificateJson, certificateLines, table } from '../format.js';
import { confirmOrYes } from '../prompts.js';
import { p12Password } from '../p12.js';
import { emit, openRuntime, type Runtime } from '../runtime.js';
import { globals } from '../shared.js';

/** Reads a user-named input file with a size bound, so a wrong path or a huge file fails cleanly. */
export function readInputFile(path: string, what: string, maxBytes: number): string {
  let size: number;
  try {
    size = statSync(path).size;
  } catch {
    throw invalidInput(`${what} ${path} not found`);
  }
  if (size > maxBytes) throw invalidInput(`${what} ${path} is too large (${size} bytes, at most ${maxBytes})`);
  return readFileSync(path, 'utf8');
}

export async function runIssueClient(id: string | undefined, o: Record<string, any>, cmd: Command): Promise<void> {
  if (o.from) return runProvision(o, cmd, id);
  if (!id) throw usageError('missing client id', 'ca issue-client <id>, or --from <file>');
  validateClientId(id);
  if (o.prune) throw usageError('--prune goes with --from');
  if (o.csr && o.keyType) throw usageError('--key-type does not apply to --csr: the CSR\'s key is used');
  if (o.csr && o.p12) throw usageError('--p12 needs the private key, which stays with the client when it sends a CSR');
  if (o.p12 && o.dropP12) throw usageError('--p12 and --drop-p12 exclude each other');
  if (o.deliver !== 'files' && o.deliver !== 'ssm') throw usageError(`unknown --deliver ${o.deliver}`, 'use files or ssm');
  const keyType = o.keyType ? parseKeyType(o.keyType) : undefined;
  const validityDays = o.days !== undefined ? validateDays('--days', Number(o.days)) : undefined;
  const csr = o.csr ? checkCsr(readInputFile(o.csr, 'CSR file', MAX_CSR_BYTES)) : undefined;
  const rt = await openRuntime(cmd, { out: o.out && resolve(o.out), deliver: o.deliver, settings: { spiffeTrustDomain: o.spiffeTrustDomain } });
  const pkcs12Password = o.p12 && !o.dryRun ? await p12Password(o) : undefined;
  const r = await rt.store.lock.withLock(() =>
    issueClient(rt.ctx, {
      clientId: id,
      csrPublicKeySpki: csr?.publicKeySpki,
      keyType,
      validityDays,
      replace: !!o.replace,
      dryRun: !!o.dryRun,
      pkcs12Password,
      dropPkcs12: !!o.dropP12,
    }),
  );
  const json = { action: r.action, ...(r.record ? certificateJson(r.record) : { clientId: id }), replacedSerial: r.replacedSerial ?? null, paths: r.delivered };
  emit(rt, json, () => {
    if (!r.record) return `dry run: would ${r.action === 'would-replace' ? `replace ${r.replacedSerial} of` : 'issue a certificate for'} ${id}${csr ? ' from its CSR' : ''}`;
    return [
      `${r.action === 'replaced' ? 'Replaced' : 'Issued'} a certificate for ${id}${r.replacedSerial ? ` (superseded ${r.replacedSerial}, accepted for ${rt.config.policy.graceDays} more days)` : ''}`,
      certificateLines(r.record),
      'wrote',
      ...r.delivered.map((p) => `  ${p}`),
    ].join('\n');
  });
  rt.done();
}

async function runProvision(o: Record<string, any>, cmd: Command, id: string | undefined): Promise<void> {
  if (id) throw usageError('give either a client id or --from, not both');
  if (o.csr || o.replace || o.p12 || o.dropP12) throw usageError('--csr, --replace, --p12 and --drop-p12 apply to one client; put CSR paths in the file ("csr": "path")');
  const file = resolve(o.from);
  const text = readInputFile(file, 'provisioning file', 16 * 1024 * 1024);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidInput(`failed to parse ${o.from}: ${(e as Error).message}`);
  }
  const base = dirname(file);
  const entries = parseProvisionFile(doc, (p) => checkCsr(readInputFile(resolve(base, p), 'CSR file', MAX_CSR_BYTES)));
  const rt: Runtime = await openRuntime(cmd, {
    out: o.out && resolve(o.out),
    deliver: o.deliver,
    progress: 'issuing',
    parallel: true,
    settings: { spiffeTrustDomain: o.spiffeTrustDomain, clientKeyType: o.keyType },
  });
  const r = await rt.store.lock.withLock(async () => {
    if (o.prune && !o.dryRun) {
      const plan = await provision(rt.ctx, entries, { prune: true, dryRun: true });
      if (plan.pruned.length) await confirmOrYes(`Revoke ${plan.pruned.length} client(s) no longer listed (${plan.pruned.map((p) => p.clientId).slice(0, 5).join(', ')}${plan.pruned.length > 5 ? ', …' : ''})?`, globals(cmd).yes);
    }
    return provision(rt.ctx, entries, { prune: !!o.prune, dryRun: !!o.dryRun });
  });
  rt.done();
  emit(rt, r, () => {
    const verb = r.dryRun ? 'would issue' : 'issued';
    const lines = [`${verb} ${r.issued.length}, skipped ${r.skipped.length} (already active)${o.prune ? `, ${r.dryRun ? 'would revoke' : 'revoked'} ${r.pruned.length}` : ''}`];
    const rows = [
      ...r.issued.map((x) => ({ client: x.clientId, action: verb, serial: x.serial })),
      ...r.skipped.map((x) => ({ client: x.clientId, action: 'skipped', serial: x.serial })),
      ...r.pruned.map((x) => ({ client: x.clientId, action: r.dryRun ? 'would revoke' : 'revoked', serial: x.serial })),
    ];
    if (rows.length) lines.push(table(rows, [['client', 'CLIENT'], ['action', 'ACTION'], ['serial', 'SERIAL']]));
    return lines.join('\n');
  });
}
