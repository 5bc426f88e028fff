import type { Command } from 'commander';
import { publishCrls, type PublishedCrl } from '../../domain/crl-publication.js';
import { MAX_CRL_DAYS } from '../../domain/policy.js';
import { wholeNumberFlag } from '../input.js';
import { table } from '../format.js';
import { emit, openRuntime } from '../runtime.js';

/** The JSON form of one CRL, shared by `ca crl` and `ca revoke` (schemas/cli/crl.schema.json#/$defs/crl). */
export function crlJson(c: PublishedCrl) {
  return { issuerSerial: c.issuerSerial, issuer: c.issuer, crlNumber: c.crlNumber, thisUpdate: c.thisUpdate, nextUpdate: c.nextUpdate, revoked: c.revoked, files: c.files, action: c.action };
}

export function crlLines(crls: PublishedCrl[]): string {
  return table(
    crls.map((c) => ({ issuer: c.issuerSerial, number: String(c.crlNumber), revoked: String(c.revoked.length), next: c.nextUpdate, action: c.action, file: c.files[0] ?? '' })),
    [['issuer', 'ISSUER'], ['number', 'CRL NUMBER'], ['revoked', 'REVOKED'], ['next', 'NEXT UPDATE'], ['action', 'ACTION'], ['file', 'FILE']],
  );
}

export async function runCrl(o: Record<string, any>, cmd: Command): Promise<void> {
  const rt = await openRuntime(cmd, { profile: 'read', dryRun: !!o.dryRun });
  const days = o.days !== undefined ? wholeNumberFlag('--days', o.days, 1, MAX_CRL_DAYS) : rt.config.crlDays;
  const r = o.dryRun ? await publishCrls(rt.ctx, { days, dryRun: true }) : await rt.store.lock.withLock(() => publishCrls(rt.ctx, { days }));
  const files = r.dryRun ? [] : r.crls.flatMap((c) => c.files);
  emit(rt, { dryRun: r.dryRun, days, crls: r.crls.map(crlJson), files }, () => {
    const head = r.dryRun ? `dry run: would sign ${r.crls.length} CRL(s), next update in ${days} day(s)` : `Signed and published ${r.crls.length} CRL(s), next update in ${days} day(s)`;
    return [head, crlLines(r.crls)].join('\n');
  });
}
