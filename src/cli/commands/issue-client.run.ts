import type { Command } from 'commander';
import { readInputFile, wholeNumberFlag } from '../input.js';
import { realpathSync } from 'node:fs';
import { resolve, dirname, sep } from 'node:path';
import { invalidInput, usageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { checkCsr, MAX_CSR_BYTES } from '../../domain/csr.js';
import { issueClient } from '../../domain/issuance.js';
import { parseKeyType } from '../../domain/keys.js';
import { parseProvisionFile, provision } from '../../domain/provision.js';
import { validateCrlDistributionPoint, validateDays, validateTrustDomain } from '../../domain/policy.js';
import { splitList, validateAudiences, validateScopes } from '../../domain/scopes.js';
import { actionWord, certificateJson, certificateLines, table } from '../format.js';
import { confirmOrYes } from '../prompts.js';
import { p12Password } from '../p12.js';
import { emit, openRuntime, type Runtime } from '../runtime.js';
import { globals } from '../shared.js';

export { readInputFile };

/**
 * --spiffe-trust-domain, --crl-distribution-point and --key-type choose for the certificates this command issues (recorded with each, and
 * kept by renew and rotation); they are not changes of the CA profile.
 */
function clientOverrides(rt: Runtime, o: Record<string, any>): Runtime['ctx'] {
  const policy = { ...rt.ctx.policy };
  if (o.spiffeTrustDomain !== undefined) policy.spiffeTrustDomain = validateTrustDomain(String(o.spiffeTrustDomain));
  if (o.crlDistributionPoint !== undefined) policy.crlDistributionPoint = validateCrlDistributionPoint(String(o.crlDistributionPoint));
  if (o.keyType !== undefined && o.from) policy.clientKeyType = parseKeyType(String(o.keyType));
  return { ...rt.ctx, policy };
}

/**
 * A CSR path from a provisioning file, resolved inside the file's directory: a file in a pull request must not
 * make CI read `../../secrets` or an absolute path (symlinks are followed before the check).
 * @throws CaError invalidInput for a path outside the directory, unless `allowOutside`
 */
function csrPathInside(base: string, path: string, allowOutside: boolean): string {
  const full = resolve(base, path);
  if (allowOutside) return full;
  let real: string;
  try {
    real = realpathSync(full);
  } catch {
    return full; // missing: reported as such by the read
  }
  const root = realpathSync(base);
  if (real !== root && !real.startsWith(root + sep)) {
    throw invalidInput(`CSR path ${JSON.stringify(path)} leads outside the provisioning file's directory ${root}`, 'keep CSRs beside the file (relative paths), or add --allow-csr-outside');
  }
  return full;
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
  const validityDays = o.days !== undefined ? wholeNumberFlag('--days', o.days, 1, 36500) : undefined;
  const scopes = o.scope ? validateScopes('--scope', splitList(o.scope)) : undefined;
  const audiences = o.audience ? validateAudiences('--audience', splitList(o.audience)) : undefined;
  const csr = o.csr ? checkCsr(readInputFile(o.csr, 'CSR file', MAX_CSR_BYTES)) : undefined;
  const rt = await openRuntime(cmd, { out: o.out && resolve(o.out), deliver: o.deliver, dryRun: !!o.dryRun });
  const ctx = clientOverrides(rt, o);
  const pkcs12Password = o.p12 && !o.dryRun ? await p12Password(o) : undefined;
  const r = await rt.store.lock.withLock(() =>
    issueClient(ctx, {
      clientId: id,
      csrPublicKeySpki: csr?.publicKeySpki,
      keyType,
      validityDays,
      replace: !!o.replace,
      dryRun: !!o.dryRun,
      pkcs12Password,
      dropPkcs12: !!o.dropP12,
      scopes,
      audiences,
    }),
  );
  const json = { dryRun: !!o.dryRun, action: actionWord(r.action), ...(r.record ? certificateJson(r.record) : { clientId: id }), replacedSerial: r.replacedSerial ?? null, files: r.delivered };
  emit(rt, json, () => {
    if (!r.record) return `dry run: would ${r.action === 'would-replace' ? `replace ${r.replacedSerial} of` : 'issue a certificate for'} ${id}${csr ? ' from its CSR' : ''}`;
    return [
      `${r.action === 'replaced' ? 'Replaced' : 'Issued'} a certificate for ${id}${r.replacedSerial ? ` (superseded ${r.replacedSerial}, accepted for ${ctx.policy.graceDays} more days)` : ''}`,
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
  if (o.scope || o.audience) throw usageError('--scope and --audience apply to one client; put them in the file ("scopes": [...], "audiences": [...])');
  const file = resolve(o.from);
  const text = readInputFile(file, 'provisioning file', 16 * 1024 * 1024);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw invalidInput(`failed to parse ${o.from}: ${(e as Error).message}`);
  }
  const base = dirname(file);
  const entries = parseProvisionFile(doc, (p) => checkCsr(readInputFile(csrPathInside(base, p, !!o.allowCsrOutside), 'CSR file', MAX_CSR_BYTES)));
  const rt: Runtime = await openRuntime(cmd, {
    out: o.out && resolve(o.out),
    deliver: o.deliver,
    progress: 'issuing',
    parallel: true,
    dryRun: !!o.dryRun,
  });
  const ctx = clientOverrides(rt, o);
  const r = await rt.store.lock.withLock(async () => {
    if (o.prune && !o.dryRun) {
      const plan = await provision(ctx, entries, { prune: true, dryRun: true });
      if (plan.pruned.length) await confirmOrYes(`Revoke ${plan.pruned.length} client(s) no longer listed (${plan.pruned.map((p) => p.clientId).slice(0, 5).join(', ')}${plan.pruned.length > 5 ? ', …' : ''})?`, globals(cmd).yes);
    }
    return provision(ctx, entries, { prune: !!o.prune, dryRun: !!o.dryRun });
  });
  rt.done();
  const item = (x: { clientId: string; record?: Parameters<typeof certificateJson>[0] }) => (x.record ? certificateJson(x.record) : { clientId: x.clientId });
  const json = {
    dryRun: r.dryRun,
    issued: r.issued.map((x) => ({ ...item(x), files: x.delivered })),
    skipped: r.skipped.map(item),
    pruned: r.pruned.map(item),
    grantsChanged: r.grantsChanged,
  };
  emit(rt, json, () => {
    const verb = r.dryRun ? 'would issue' : 'issued';
    const lines: string[] = [];
    const rows = [
      ...r.issued.map((x) => ({ client: x.clientId, action: verb, serial: x.serial })),
      ...r.skipped.map((x) => ({ client: x.clientId, action: 'skipped', serial: x.serial })),
      ...r.pruned.map((x) => ({ client: x.clientId, action: r.dryRun ? 'would revoke' : 'revoked', serial: x.serial })),
    ];
    if (rows.length) lines.push(table(rows, [['client', 'CLIENT'], ['action', 'ACTION'], ['serial', 'SERIAL']]));
    // the summary last, where it is still on screen after a long table
    lines.push(`${verb} ${r.issued.length}, skipped ${r.skipped.length} (already active)${o.prune ? `, ${r.dryRun ? 'would revoke' : 'revoked'} ${r.pruned.length}` : ''}`);
    if (r.grantsChanged.length) lines.push(`${r.dryRun ? 'would change' : 'changed'} the scopes or audiences of ${r.grantsChanged.length} client(s): ${r.grantsChanged.slice(0, 5).join(', ')}${r.grantsChanged.length > 5 ? ', …' : ''}`);
    return lines.join('\n');
  });
}
