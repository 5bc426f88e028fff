import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const az = program.command('authorizer').description('the Lambda authorizer that enforces revocation on every request');
  const build = az
    .command('build')
    .description('write authorizer.zip: one minified ESM bundle for nodejs22.x, handler index.handler')
    .option('--out <dir>', 'output directory', 'dist/authorizer')
    .action(async (o, c: Command) => {
      const { buildAuthorizerBundle } = await import('../../lambda/build.js');
      const { emit } = await import('../runtime.js');
      const { globals } = await import('../shared.js');
      const r = await buildAuthorizerBundle({ outDir: o.out });
      emit({ json: !!globals(c).json }, { ...r, runtime: 'nodejs22.x', handler: 'index.handler' }, () =>
        [
          `wrote ${r.zipPath}`,
          `  index.mjs ${(r.bundleBytes / 1024).toFixed(0)} KiB, zip ${(r.zipBytes / 1024).toFixed(0)} KiB; runtime nodejs22.x, handler index.handler`,
          '  environment: CA_TABLE (required), CA_RESPONSE_MODE simple|iam, CA_CACHE_TTL_MS (max revocation delay) — see the README',
        ].join('\n'),
      );
    });
  helpFooter(build, [
    'ca authorizer build',
    'ca authorizer build --out build/ --json',
    'aws lambda update-function-code --function-name ca-authorizer --zip-file fileb://dist/authorizer/authorizer.zip',
  ]);
}
