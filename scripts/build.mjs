// Builds the CLI into dist/: one ESM entry plus lazily loaded chunks, so `ca --help` loads only commander
// and the command definitions, and a command loads the domain, X.509 and AWS code when it runs.
// Also prebuilds the authorizer bundle (dist/lambda/index.mjs) that an installed package ships.
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { authorizerBuildOptions } from '../src/lambda/esbuild-options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
rmSync(join(root, 'dist'), { recursive: true, force: true });
await Promise.all([
  build({
    absWorkingDir: root,
    entryPoints: { cli: 'src/cli/main.ts', 'signing-worker': 'src/adapters/threads/signing-worker.ts' },
    outdir: 'dist',
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    logLevel: 'warning',
    chunkNames: 'chunks/[name]-[hash]',
  }),
  build({ ...authorizerBuildOptions(root), outfile: join(root, 'dist', 'lambda', 'index.mjs') }),
]);
