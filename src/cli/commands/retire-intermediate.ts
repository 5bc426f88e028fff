import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('retire-intermediate [serial]')
    .description('remove previous intermediates from the truststore (default: every previous one)')
    .option('--force', 'retire even while superseded certificates under it are in their grace period, or bundles still hold one (their holders are locked out)')
    .option('--out <dir>', 'bundle directory checked for certificates from the retired intermediate (default ./bundles)')
    .option('--deliver <where>', 'where the bundles are: files (default) or ssm', 'files')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (serial: string | undefined, o, c: Command) => {
      const { retireIntermediate } = await import('../../domain/hierarchy.js');
      const { normalizeSerial } = await import('../../domain/serial.js');
      const { emit, openRuntime, warn } = await import('../runtime.js');
      const { resolve } = await import('node:path');
      const { confirmOrYes } = await import('../prompts.js');
      const { globals } = await import('../shared.js');
      const rt = await openRuntime(c, { publishes: true, out: o.out && resolve(o.out), deliver: o.deliver });
      const args = { serial: serial && normalizeSerial(serial), force: !!o.force };
      const r = await rt.store.lock.withLock(async () => {
        const plan = await retireIntermediate(rt.ctx, { ...args, dryRun: true });
        if (o.dryRun) return plan;
        await confirmOrYes(`Remove ${plan.retired.length} intermediate(s) from the truststore?`, globals(c).yes);
        return retireIntermediate(rt.ctx, args);
      });
      for (const b of r.staleBundles) warn(`the bundle of ${b.clientId} still holds certificate ${b.serial} from retired intermediate ${b.issuerSerial}: its holder is locked out until given a renewed bundle`);
      const { truststoreFile } = await import('../format.js');
      const ts = r.truststore;
      const json = {
        dryRun: r.dryRun,
        retired: r.retired,
        staleBundles: r.staleBundles,
        truststore: ts ? { version: ts.state.version, changed: ts.changed, retired: ts.retired, warnings: ts.warnings } : null,
        files: ts?.changed && !r.dryRun ? [truststoreFile(rt.config)] : [],
      };
      emit(rt, json, () =>
        [`${r.dryRun ? 'dry run: would retire' : 'Retired'} ${r.retired.map((x) => `${x.subject} (${x.serial})`).join(', ')}`, ...(r.truststore ? [`truststore version ${r.truststore.state.version}`] : [])].join('\n'),
      );
    });
  helpFooter(cmd, ['ca retire-intermediate --dry-run', 'ca retire-intermediate 3a7f… --yes', 'ca retire-intermediate --force --yes']);
}
