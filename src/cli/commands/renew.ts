import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('renew [id]')
    .description('re-issue a client certificate for the same key under the current intermediate')
    .option('--all', 'renew every active client')
    .option('--expiring-within <days>', 'renew every active client whose certificate ends within this many days (its renewal window), each with its recorded parameters')
    .option('--days <n>', 'validity in days (default: the length each certificate was issued with)')
    .option('--out <dir>', 'bundle directory (default ./bundles)')
    .option('--deliver <where>', 'files (default) or ssm', 'files')
    .option('--p12-password-file <file>', 'rebuild each bundle\'s .p12 with the new certificate, with the password in this file (or CA_P12_PASSWORD, or a prompt)')
    .option('--drop-p12', 'remove each bundle\'s .p12 instead of rebuilding it (without a password or this, a bundle with a .p12 is refused)')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (id: string | undefined, o, c: Command) => {
      const { usageError } = await import('../../domain/errors.js');
      const window = o.expiringWithin !== undefined;
      if (id ? o.all || window : !o.all && !window) throw usageError(id ? 'give a client id, or --all / --expiring-within, not both' : 'give a client id, --all or --expiring-within <days>');
      const { resolve } = await import('node:path');
      const { renew } = await import('../../domain/issuance.js');
      const { validateClientId } = await import('../../domain/ids.js');
      const { emit, openRuntime } = await import('../runtime.js');
      const { reissueJson, reissueText } = await import('../format.js');
      const { wholeNumberFlag } = await import('../input.js');
      const { p12Choice } = await import('../p12.js');
      if (id) validateClientId(id);
      const validityDays = o.days !== undefined ? wholeNumberFlag('--days', o.days, 1, 36500) : undefined;
      const expiringWithinDays = window ? wholeNumberFlag('--expiring-within', o.expiringWithin, 1, 36500) : undefined;
      const rt = await openRuntime(c, { out: o.out && resolve(o.out), deliver: o.deliver, progress: 'renewing', parallel: !id, dryRun: !!o.dryRun });
      const r = await rt.store.lock.withLock(() => renew(rt.ctx, { clientId: id, all: !!o.all, expiringWithinDays, validityDays, dryRun: !!o.dryRun, pkcs12: p12Choice(o) }));
      rt.done();
      emit(rt, { dryRun: r.dryRun, renewed: r.renewed.map(reissueJson), ...(window ? { skipped: r.skipped } : {}) }, () => reissueText(r.renewed, r.dryRun, 'renew', rt.ctx.policy.graceDays));
    });
  helpFooter(cmd, ['ca renew acme', 'ca renew acme --days 30', 'ca renew --all --json', 'ca renew --all --dry-run', 'ca renew --expiring-within 30 --json      # every client inside its renewal window (a scheduled job)', 'ca renew --expiring-within 30 --dry-run   # who would be renewed', 'CA_P12_PASSWORD=... ca renew acme         # acme.p12 rebuilt with the new certificate', 'ca renew --all --drop-p12                  # .p12 files removed instead']);
}
