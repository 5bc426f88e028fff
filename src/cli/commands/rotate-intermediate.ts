import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('rotate-intermediate')
    .description('bring in a new intermediate without locking anyone out and re-issue every active client under it')
    .option('--rekey', 'generate new keys for clients whose key the tool generated (default: keep each client\'s key)')
    .option('--grace-days <n>', 'days the old client certificates stay accepted (default 7)')
    .option('--out <dir>', 'bundle directory (default ./bundles)')
    .option('--deliver <where>', 'files (default) or ssm', 'files')
    .option('--p12-password-file <file>', 'rebuild each bundle\'s .p12 with its new certificate (and new key with --rekey), with the password in this file (or CA_P12_PASSWORD, or a prompt)')
    .option('--drop-p12', 'remove each bundle\'s .p12 instead of rebuilding it (without a password or this, bundles with a .p12 are refused before anything changes)')
    .option('--strict', 'fail when API Gateway reports truststore warnings')
    .option('--dry-run', 'print the plan and change nothing')
    .action(async (o, c: Command) => {
      const { resolve } = await import('node:path');
      const { rotateIntermediate } = await import('../../domain/hierarchy.js');
      const { emit, openRuntime, warn } = await import('../runtime.js');
      const { wholeNumberFlag } = await import('../input.js');
      const { certificateJson, certificateLines, reissueJson, reissueText, truststoreFile } = await import('../format.js');
      const { p12Choice } = await import('../p12.js');
      const rt = await openRuntime(c, { out: o.out && resolve(o.out), deliver: o.deliver, strict: !!o.strict, publishes: true, parallel: true, progress: 're-issuing', dryRun: !!o.dryRun });
      // --grace-days is this rotation's choice, not a change of the CA profile
      const ctx = o.graceDays === undefined ? rt.ctx : { ...rt.ctx, policy: { ...rt.ctx.policy, graceDays: wholeNumberFlag('--grace-days', o.graceDays, 0, 365) } };
      const r = await rt.store.lock.withLock(() => rotateIntermediate(ctx, { rekey: !!o.rekey, dryRun: !!o.dryRun, pkcs12: p12Choice(o) }));
      rt.done();
      for (const w of r.truststore?.warnings ?? []) warn(`truststore: ${w}`);
      const json = {
        dryRun: r.dryRun,
        plan: r.plan,
        intermediate: r.intermediate ? certificateJson(r.intermediate) : null,
        previousIntermediate: r.plan.previousIntermediate,
        reissued: r.reissued.map(reissueJson),
        truststore: r.truststore ? { version: r.truststore.state.version, changed: r.truststore.changed, retired: r.truststore.retired, warnings: r.truststore.warnings } : null,
        files: r.truststore?.changed ? [truststoreFile(rt.config)] : [],
      };
      emit(rt, json, () => {
        if (r.dryRun) {
          return [
            `dry run: ${r.plan.newIntermediate ? 'would create a new intermediate' : 'would finish an interrupted rotation (the new intermediate exists)'}, then re-issue ${r.plan.reissue.length} client certificate(s)`,
            `the truststore would hold the root, the new and the previous intermediate (${r.plan.previousIntermediate})`,
          ].join('\n');
        }
        return [
          `${r.plan.newIntermediate ? 'New issuing intermediate' : 'Finished the rotation to'}`,
          certificateLines(r.intermediate!),
          reissueText(r.reissued, false, 're-issue', ctx.policy.graceDays),
          `truststore version ${r.truststore!.state.version} holds the root, the new and the previous intermediate; remove the previous one later with \`ca retire-intermediate\``,
        ].join('\n');
      });
    });
  helpFooter(cmd, [
    'ca rotate-intermediate --dry-run',
    'ca rotate-intermediate --json',
    'ca rotate-intermediate --rekey --grace-days 14',
    'ca rotate-intermediate --p12-password-file p12.pass   # .p12 files rebuilt with the new certificates',
  ]);
}
