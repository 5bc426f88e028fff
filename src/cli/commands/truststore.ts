import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const ts = program.command('truststore').description('check, show or publish the truststore bundle API Gateway uses');
  helpFooter(ts, ['ca truststore verify                 # API Gateway\'s rules, exit 7 on a violation', 'ca truststore show > truststore.pem', 'ca truststore publish --dry-run']);
  const verify = ts
    .command('verify [file]')
    .description('check a truststore (default: the published one) against API Gateway\'s rules; exit 7 on a violation')
    .option('--warn-days <n>', 'warn about certificates expiring within this many days', '30')
    .action(async (file: string | undefined, o, c: Command) => {
      const { verifyTruststore } = await import('../../domain/truststore.js');
      const { CaError, notFound } = await import('../../domain/errors.js');
      const { emit, openRuntime, warn } = await import('../runtime.js');
      const { readInputFile, wholeNumberFlag } = await import('../input.js');
      const rt = await openRuntime(c, { profile: 'read' });
      let pem: string;
      let source: string;
      if (file) {
        pem = readInputFile(file, 'truststore file', 4 * 1024 * 1024);
        source = file;
      } else {
        const cur = await rt.store.truststore.current();
        if (!cur) throw notFound('no truststore published yet', 'run `ca bootstrap`, or give a file');
        pem = cur.pem;
        source = `${rt.store.describe()} (version ${cur.version})`;
      }
      const r = verifyTruststore(pem, rt.ctx.clock.now(), wholeNumberFlag('--warn-days', o.warnDays, 0, 36500));
      for (const w of r.warnings) warn(w);
      emit(rt, { source, ...r }, () =>
        [
          `${source}: ${r.entries.length} certificate(s)`,
          ...r.entries.map((e) => `  #${e.index} ${e.role.padEnd(12)} ${e.subject}  expires ${e.notAfter.slice(0, 10)}${e.depth ? `  chain depth ${e.depth}` : ''}`),
          r.ok ? 'OK: meets API Gateway\'s truststore rules' : r.violations.map((v) => `violation: ${v}`).join('\n'),
        ].join('\n'),
      );
      if (!r.ok) throw new CaError('verification', `truststore has ${r.violations.length} violation(s)${rt.json ? '' : ' (listed above)'}`);
    });
  helpFooter(verify, ['ca truststore verify', 'ca truststore verify ./truststore.pem --json', 'ca truststore verify --warn-days 90']);

  const show = ts
    .command('show')
    .description('print the published truststore PEM on stdout')
    .action(async (_o, c: Command) => {
      const { notFound } = await import('../../domain/errors.js');
      const { emit, openRuntime } = await import('../runtime.js');
      const rt = await openRuntime(c, { profile: 'read' });
      const cur = await rt.store.truststore.current();
      if (!cur) throw notFound('no truststore published yet', 'run `ca bootstrap`');
      emit(rt, cur, (x) => x.pem);
    });
  helpFooter(show, ['ca truststore show > truststore.pem', 'ca truststore show --json | jq -r .version']);

  const publish = ts
    .command('publish')
    .description('publish the truststore the registry implies, if it differs (finishes an interrupted publication)')
    .option('--strict', 'fail when API Gateway reports truststore warnings')
    .option('--dry-run', 'say what would be published, retired or repaired, and change nothing')
    .action(async (o, c: Command) => {
      const { syncTruststore } = await import('../../domain/hierarchy.js');
      const { emit, openRuntime, warn } = await import('../runtime.js');
      const rt = await openRuntime(c, { strict: !!o.strict, publishes: true, dryRun: !!o.dryRun });
      const { r, repaired } = await rt.store.lock.withLock(async () => {
        const drift = await rt.store.truststore.drift();
        return { r: await syncTruststore(rt.ctx, { dryRun: !!o.dryRun }), repaired: drift };
      });
      for (const w of r.warnings) warn(`truststore: ${w}`);
      const dry = !!o.dryRun;
      const { truststoreFile } = await import('../format.js');
      const files = !dry && (r.changed || repaired.length) ? [truststoreFile(rt.config)] : [];
      emit(rt, { dryRun: dry, version: r.state.version, changed: r.changed, repaired, retired: r.retired, warnings: r.warnings, files }, () =>
        [
          dry
            ? `dry run: ${r.changed ? `would publish the ${r.state.version} truststore version` : repaired.length ? `would repair truststore version ${r.state.version}` : `nothing to do: truststore version ${r.state.version} is current`}${r.retired.length ? `; would retire ${r.retired.join(', ')}` : ''}`
            : `${r.changed ? 'Published' : repaired.length ? 'Repaired' : 'Already current:'} truststore version ${r.state.version}${r.retired.length ? `; retired ${r.retired.join(', ')}` : ''}`,
          ...repaired.map((d) => `  was: ${d}`),
        ].join('\n'),
      );
    });
  helpFooter(publish, ['ca truststore publish', 'ca truststore publish --dry-run --json', 'ca truststore publish --env production --strict']);
}
