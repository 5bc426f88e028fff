import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('status')
    .description('the CA hierarchy at a glance: root, intermediates, clients by status, expiries, warnings')
    .option('--warn-days <n>', 'warn about anything expiring within this many days', '30')
    .option('--check', 'exit 7 when there is any warning (for a scheduled CI job)')
    .action(async (o, c: Command) => {
      const { status } = await import('../../domain/reporting.js');
      const { emit, openRuntime } = await import('../runtime.js');
      const { day } = await import('../format.js');
      const { wholeNumberFlag } = await import('../input.js');
      const warnDays = wholeNumberFlag('--warn-days', o.warnDays, 0, 36500);
      const rt = await openRuntime(c, { profile: 'read' });
      const s = await status(rt.ctx, warnDays);
      if (s.initialized) {
        const { openTokenKeys } = await import('../runtime.js');
        const { tokenKeyWarnings } = await import('../../domain/token-keys.js');
        s.warnings.push(...(await tokenKeyWarnings((await openTokenKeys(rt, c)).set)));
      }
      const counts = (m: Record<string, number>) => Object.entries(m).map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
      emit(rt, s, () => {
        if (!s.initialized) return `No CA in ${s.store} yet.\nnext: ca bootstrap`;
        const lines = [`CA store: ${s.store}`, `${s.root!.subject}  [root]  expires ${day(s.root!.notAfter)} (${s.root!.daysLeft} days)`];
        s.intermediates.forEach((i, k) => {
          const branch = k === s.intermediates.length - 1 ? '└─' : '├─';
          lines.push(`${branch} ${i.subject}  [${i.status === 'active' ? 'issuing' : i.status}]  expires ${day(i.notAfter)} (${i.daysLeft} days)  clients: ${counts(i.clients)}`);
        });
        lines.push(`clients: ${counts(s.clients)}`);
        const first = s.soonest.map((x) => `${x.kind} ${x.kind === 'client' ? x.name : ''}${x.kind === 'client' ? ' ' : ''}${day(x.notAfter)} (${x.daysLeft} days)`.replace('  ', ' '));
        if (first.length) lines.push(`soonest expiry: ${first.join('; ')}`);
        const p = s.profile;
        if (p) lines.push(`profile: O=${p.organization}, CA name ${p.caName}, CA keys ${p.caKeyType}, client keys ${p.clientKeyType}, validity root/intermediate/client ${p.rootValidityDays}/${p.intermediateValidityDays}/${p.clientValidityDays} days, grace ${p.graceDays} days${p.spiffeTrustDomain ? `, SPIFFE ${p.spiffeTrustDomain}` : ''}${p.crlDistributionPoint ? `, CRL distribution point ${p.crlDistributionPoint}` : ''}`);
        if (s.truststore) lines.push(`truststore: version ${s.truststore.version}, ${s.truststore.certificates} certificate(s), ${s.truststore.inSync ? 'in sync with the registry' : 'OUT OF SYNC'}${s.truststore.drift.length ? ', but the copy served DIFFERS (see below)' : ''}`);
        for (const w of s.warnings) lines.push(`warning: ${w}`);
        return lines.join('\n');
      });
      if (o.check && s.warnings.length) {
        const { CaError } = await import('../../domain/errors.js');
        throw new CaError('verification', `${s.warnings.length} warning(s): ${s.warnings[0]}${s.warnings.length > 1 ? ' (and more above)' : ''}`, { hint: 'fix what the warnings say, or set the window with --warn-days' });
      }
    });
  helpFooter(cmd, ['ca status', 'ca status --warn-days 60 --json', 'ca status --check --warn-days 30   # in a scheduled CI job: exit 7 on any warning', 'ca status --env production']);
}
