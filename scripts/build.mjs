// Builds the CLI into dist/cli.cjs: `ca --help` runs commander and the command definitions only; a command
// runs the domain, X.509 and AWS code (and loads those packages) when it needs them.
// Also prebuilds the authorizer bundle (dist/lambda/index.mjs) that an installed package ships.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
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
    outExtension: { '.js': '.cjs' },
    bundle: true,
    // CommonJS, one file per entry: Node starts a CommonJS main ~10 ms sooner than an ES module (no module
    // loader, one file instead of an entry and its chunks), a quarter of what `ca --help` costs above
    // `node -e 0`. The command implementations sit in the same file behind esbuild's lazy module wrappers, so
    // they are parsed but not run until a command needs them; dependencies load with require() on first use.
    format: 'cjs',
    platform: 'node',
    target: 'node20',
    // Dependencies stay in node_modules (and esbuild, used by `ca authorizer build` in a checkout), except
    // commander: bundled, it loads as part of the entry file.
    external: [...Object.keys(pkg.dependencies).filter((d) => d !== 'commander'), 'esbuild'],
    sourcemap: 'linked',
    // Whitespace and syntax only: ~40% less to parse on every start, while names stay readable in stack traces.
    minifyWhitespace: true,
    minifySyntax: true,
    // import() of a package or built-in becomes require() on first use, so no ES module loader is ever started
    supported: { 'dynamic-import': false },
    // import.meta does not exist in CommonJS: the code's uses (locating the package root) get the file's URL.
    define: { 'import.meta.url': '__import_meta.url' },
    banner: { js: "const __import_meta={get url(){return require('node:url').pathToFileURL(__filename).href}};" },
    logLevel: 'warning',
    plugins: [lazyChildProcess],
  }),
  build({ ...authorizerBuildOptions(root), outfile: join(root, 'dist', 'lambda', 'index.mjs') }),
]);

for (const f of ['cli.cjs', 'signing-worker.cjs']) {
  if (/\bimport\(/.test(readFileSync(join(root, 'dist', f), 'utf8'))) throw new Error(`dist/${f} still calls import(): bin/cli-loader.cjs runs it without an ES module loader`);
}

// The CLI's V8 code cache (see bin/cli-loader.cjs), made by running `ca --help` once with this Node.
execFileSync(process.execPath, [join(root, 'scripts', 'code-cache.cjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
