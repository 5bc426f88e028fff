import type { Command } from 'commander';
import { importLegacy } from '../../domain/import.js';
import { usageError } from '../../domain/errors.js';
import { resolve } from 'node:path';
import { actionWord, certificateJson, truststoreFile } from '../format.js';
import { emit, openRuntime, warn } from '../runtime.js';

export async function runImport(o: Record<string, unknown>, cmd: Command): Promise<void> {
  const rt = await openRuntime(cmd, { publishes: true, strict: !!o.strict, profile: 'replace', dryRun: !!o.dryRun });
  const region = rt.config.aws.region || process.env.AWS_REGION || process.env.AWS_DEFAULT_REGION;
  if (!region) throw usageError('no AWS region to read the setup being imported from', 'set AWS_REGION (or `region` of the aws store)');
  const { readLegacyLayout } = await import('../../adapters/aws/legacy-layout.js');
  const r = await rt.store.lock.withLock(async () => {
    const layout = await readLegacyLayout({ region, ssmPrefix: o.ssmPrefix as string, table: o.table as string, bucket: o.bucket as string | undefined });
    return importLegacy(rt.ctx, layout, { dryRun: !!o.dryRun });
  });
  rt.done();
  for (const w of r.truststore?.warnings ?? []) warn(`truststore: ${w}`);
  if (r.oldTruststoreMatches === false) warn(`the old bucket's truststore does not hold exactly the imported intermediate and root: compare it with \`ca truststore show\``);
  // what this run wrote: the CA keys it put in custody and a new truststore version
  const files = [
    ...r.keys.map((k) => (rt.config.store === 'local' ? resolve(rt.config.dir, k) : k)),
    ...(r.truststore?.changed && !r.dryRun ? [truststoreFile(rt.config)] : []),
  ];
  const json = {
    dryRun: r.dryRun,
    files,
    store: rt.store.describe(),
    ca: actionWord(r.ca),
    root: certificateJson(r.root),
    intermediate: certificateJson(r.intermediate),
    profile: r.profile,
    adopted: r.adopted.map((c) => ({ ...certificateJson(c), importedFrom: c.importedFrom })),
    already: r.already,
    refused: r.refused,
    truststore: r.truststore ? { version: r.truststore.state.version, changed: r.truststore.changed, retired: r.truststore.retired, warnings: r.truststore.warnings } : null,
    oldTruststoreMatches: r.oldTruststoreMatches ?? null,
  };
  emit(rt, json, () => {
    const w = r.dryRun ? 'would adopt' : 'adopted';
    const lines = [
      `${r.dryRun ? 'dry run: ' : ''}${r.ca === 'already' ? 'CA already imported' : `${r.dryRun ? 'would import' : 'imported'} the CA`} into ${rt.store.describe()}`,
      `  root          ${r.root.subject} (serial ${r.root.serial})`,
      `  intermediate  ${r.intermediate.subject} (serial ${r.intermediate.serial})`,
      `${w} ${r.adopted.length} client certificate(s)${r.already.length ? `, ${r.already.length} already imported` : ''}, refused ${r.refused.length}`,
      ...r.adopted.map((c) => `  ${c.clientId}  ${c.status}  serial ${c.serial}`),
      ...r.refused.map((f) => `  refused ${f.clientId ?? '?'} (serialNumber ${f.serialNumber}): ${f.reason}: ${f.message}`),
    ];
    if (r.truststore) lines.push(`truststore ${r.truststore.changed ? (r.dryRun ? 'would be published' : 'published') : 'unchanged'}: version ${r.truststore.state.version}`);
    lines.push('client private keys were not read: clients keep theirs. The authorizer gives imported clients the old context keys too (CA_COMPAT_CONTEXT).');
    return lines.join('\n');
  });
}
