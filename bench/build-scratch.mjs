// Bundles the benchmark's TypeScript (bench/issuance.ts, bench/workloads.ts, bench/transport-*.ts, and an entry calling
// src/lambda/build.ts) into bench/.build/*.mjs: bundle, platform node, format esm, packages external.
import { build } from 'esbuild';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const BUILD = join(root, 'bench', '.build');
rmSync(BUILD, { recursive: true, force: true });
mkdirSync(BUILD, { recursive: true });
writeFileSync(
  join(BUILD, 'authorizer-build.ts'),
  [
    "import { writeFileSync } from 'node:fs';",
    "import { join } from 'node:path';",
    "import { authorizerDeploySettings, buildAuthorizerBundle, bundleAuthorizer } from '../../src/lambda/build.js';",
    'const dir = process.argv[2]!;',
    "writeFileSync(join(dir, 'index.mjs'), await bundleAuthorizer());",
    "console.log(JSON.stringify({ ...(await buildAuthorizerBundle({ outDir: dir })), environment: authorizerDeploySettings('iam').environment }));",
  ].join('\n'),
);
await build({
  absWorkingDir: root,
  entryPoints: { issuance: 'bench/issuance.ts', workloads: 'bench/workloads.ts', 'authorizer-build': 'bench/.build/authorizer-build.ts', 'transport-own': 'bench/transport-own.ts', 'transport-node': 'bench/transport-node.ts' },
  outdir: BUILD,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  logLevel: 'warning',
});
