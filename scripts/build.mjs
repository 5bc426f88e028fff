// Builds the CLI into dist/: one ESM entry plus lazily loaded chunks, so `ca --help` loads only commander
// and the command definitions, and a command loads the domain, X.509 and AWS code when it runs.
// Also prebuilds the authorizer bundle (dist/lambda/index.mjs) that an installed package ships.
import { build } from 'esbuild';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { authorizerBuildOptions } from '../src/lambda/esbuild-options.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
rmSync(join(root, 'dist'), { recursive: true, force: true });
// commander loads child_process (and with it net, dgram and the stream machinery) when it is imported, only to
// spawn external subcommands, which `ca` does not have; loading it on first use keeps that off `ca --help`.
const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onLoad({ filter: /commander[\\/]lib[\\/]command\.js$/ }, async (args) => {
      const src = readFileSync(args.path, 'utf8');
      const eager = "const childProcess = require('node:child_process');";
      if (!src.includes(eager)) throw new Error(`commander changed: ${eager} not found in ${args.path}`);
      const lazy = "const childProcess = { spawn: (...a) => require('node:child_process').spawn(...a) };";
      return { contents: src.replace(eager, lazy), loader: 'js' };
    });
  },
};

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
    // Dependencies stay in node_modules, except commander: bundled, it loads as part of the entry file instead
    // of through ESM-to-CommonJS interop, which costs more than the rest of `ca --help`.
    external: Object.keys(pkg.dependencies).filter((d) => d !== 'commander'),
    sourcemap: 'linked',
    // the bundled CommonJS code calls require() on Node built-ins, which an ES module does not have
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    logLevel: 'warning',
    chunkNames: 'chunks/[name]-[hash]',
    plugins: [lazyChildProcess],
  }),
  build({ ...authorizerBuildOptions(root), outfile: join(root, 'dist', 'lambda', 'index.mjs') }),
]);
