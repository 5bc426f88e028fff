import type { Command } from 'commander';
import { bootstrap } from '../../domain/hierarchy.js';
import { usageError } from '../../domain/errors.js';
import { loadCaState } from '../../domain/ca-state.js';
import { actionWord, certificateJson, certificateLines, truststoreFile } from '../format.js';
import { confirmOrYes } from '../prompts.js';
import { emit, openRuntime, warn } from '../runtime.js';
import { globals } from '../shared.js';
import { wholeNumberFlag } from '../input.js';

export async function runBootstrap(o: Record<string, unknown>, cmd: Command): Promise<void> {
  if (o.passphrase === false && !o.insecure) throw usageError('--no-passphrase writes CA keys unencrypted', 'add --insecure if you really mean it');
  const rt = await openRuntime(cmd, {
    plaintextKeys: o.passphrase === false,
    publishes: true,
    strict: !!o.strict,
    profile: o.force ? 'replace' : 'check',
    dryRun: !!o.dryRun,
    settings: {
      organization: o.org as string | undefined,
      caName: o.caName as string | undefined,
      caKeyType: o.caKeyType as string | undefined,
      rootValidityDays: o.rootDays === undefined ? undefined : wholeNumberFlag('--root-days', o.rootDays, 1, 36500),
      intermediateValidityDays: o.intermediateDays === undefined ? undefined : wholeNumberFlag('--intermediate-days', o.intermediateDays, 1, 36500),
    },
  });
  const result = await rt.store.lock.withLock(async () => {
    if (o.force && !o.dryRun && (await loadCaState(rt.store.registry)).root) {
      await confirmOrYes(`Replace the CA in ${rt.store.describe()}? Every certificate it issued stops being trusted`, globals(cmd).yes);
    }
    return bootstrap(rt.ctx, { force: !!o.force, dryRun: !!o.dryRun });
  });
  if (o.passphrase === false && !o.dryRun) warn('CA keys were written unencrypted (--no-passphrase --insecure)');
  for (const w of result.truststore?.warnings ?? []) warn(`truststore: ${w}`);
  const json = {
    dryRun: !!o.dryRun,
    action: actionWord(result.action),
    store: rt.store.describe(),
    root: result.root ? certificateJson(result.root) : null,
    intermediate: result.intermediate ? certificateJson(result.intermediate) : null,
    truststore: result.truststore ? { version: result.truststore.state.version, changed: result.truststore.changed, retired: result.truststore.retired, warnings: result.truststore.warnings } : null,
    replaced: result.replaced,
    files: result.truststore ? [truststoreFile(rt.config)] : [],
  };
  emit(rt, json, () => {
    if (result.action.startsWith('would-')) {
      return `dry run: would ${result.action.slice(6)} a CA in ${rt.store.describe()} (${rt.ctx.policy.caKeyType} keys, root ${rt.ctx.policy.rootValidityDays} days, intermediate ${rt.ctx.policy.intermediateValidityDays} days)${result.replaced.length ? `; ${result.replaced.length} CA certificate(s) would be retired` : ''}`;
    }
    const lines = [`${result.action === 'resumed' ? 'Finished the CA setup' : result.action === 'replaced' ? 'Replaced the CA' : 'Created a CA'} in ${rt.store.describe()}`];
    if (result.root) lines.push('root CA', certificateLines(result.root));
    if (result.intermediate) lines.push('issuing intermediate', certificateLines(result.intermediate));
    if (result.truststore) lines.push(`truststore version ${result.truststore.state.version}${rt.config.store === 'local' ? `: ${rt.config.dir}/truststore.pem` : ''}`);
    lines.push('next: ca issue-client <id>');
    return lines.join('\n');
  });
  rt.done();
}
