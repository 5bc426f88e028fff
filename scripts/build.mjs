// Builds the CLI into dist/cli.cjs (commander and the command definitions: all `ca --help` compiles) and
// dist/cli-runtime.cjs (the domain, X.509 and AWS code, compiled when a command runs; the packages it uses
// load when it needs them), plus dist/signing-worker.cjs for the signing threads.
// Also prebuilds the authorizer bundle (dist/lambda/index.mjs) that an installed package ships.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, relative } from 'node:path';
import { authorizerBuildOptions, tokenBuildOptions } from '../src/lambda/esbuild-options.mjs';

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

// The CLI is two files. dist/cli.cjs, what every start compiles: commander, the command definitions and what
// they import statically (a third of the code). dist/cli-runtime.cjs, compiled only when a command runs: every
// module the definitions load with import(), and what those import. A module is in one file only: the
// runtime's imports of a cli.cjs module (errors, shared state such as `output` and `cleanups`) are answered by
// cli.cjs's own instance, which bin/ca.cjs registers in require's cache; the CLI's import() of a
// runtime module becomes a require of cli-runtime.cjs on first use.
const src = join(root, 'src');
const keyOf = (abs) => relative(root, abs).replace(/\.ts$/, '').replace(/[^A-Za-z0-9]/g, '_');
const common = {
  absWorkingDir: root,
  bundle: true,
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
};
const resolved = async (b, args) => {
  const r = await b.resolve(args.path, { resolveDir: args.resolveDir, importer: args.importer, kind: args.kind, pluginData: 'resolving' });
  if (r.errors.length) throw new Error(r.errors[0].text);
  return r.path;
};
/** An entry module that exports each given module's namespace under its key. */
const exportsOf = (modules) => [...modules].map((m) => `export * as ${keyOf(m)} from ${JSON.stringify(m)};`).join('\n') + '\n';
/** A module whose exports are those of a module in the other file, found by key in that file's exports. */
const shim = (ns, file) => ({ name: `${ns}-shim`, setup(b) {
  b.onResolve({ filter: new RegExp(`^${file.replace(/[.]/g, '\\.')}$`) }, (args) => (args.namespace === ns ? { path: file, external: true } : undefined));
  b.onLoad({ filter: /.*/, namespace: ns }, (args) => ({ contents: `module.exports = require(${JSON.stringify(file)}).${keyOf(args.path)};`, loader: 'js' }));
} });

// 1. cli.cjs's modules: main.ts and its static imports; what they import() is the runtime's entry points.
const shellModules = new Set();
const lazyModules = new Set();
const graph = await build({ ...common, entryPoints: ['src/cli/main.ts'], outfile: 'dist/graph.cjs', write: false, metafile: true, logLevel: 'silent', plugins: [{ name: 'find-lazy', setup(b) {
  b.onResolve({ filter: /^\./ }, async (args) => {
    if (args.kind !== 'dynamic-import' || args.pluginData === 'resolving') return undefined;
    lazyModules.add(await resolved(b, args));
    return { path: args.path, external: true };
  });
} }] });
for (const input of Object.keys(graph.metafile.inputs)) if (input.startsWith('src/')) shellModules.add(join(root, input));
for (const m of shellModules) lazyModules.delete(m);

// A build that fails leaves no dist/: half of one would run (bin/ca.cjs checks only that dist/cli.cjs exists).
const fail = (e) => {
  rmSync(join(root, 'dist'), { recursive: true, force: true });
  throw e;
};
const [shell, runtime] = await Promise.all([
  build({
    ...common,
    metafile: true,
    // the entry runs main.ts and exports the namespaces of its modules for cli-runtime.cjs
    stdin: { contents: exportsOf(shellModules) + `import ${JSON.stringify(join(src, 'cli', 'main.ts'))};\n`, resolveDir: root, sourcefile: 'cli-entry.js', loader: 'js' },
    outfile: 'dist/cli.cjs',
    plugins: [lazyChildProcess, { name: 'to-runtime', setup(b) {
      b.onResolve({ filter: /^\./ }, async (args) => {
        if (args.kind !== 'dynamic-import' || args.pluginData === 'resolving') return undefined;
        const path = await resolved(b, args);
        return lazyModules.has(path) ? { path, namespace: 'runtime' } : undefined;
      });
    } }, shim('runtime', './cli-runtime.cjs')],
  }),
  build({
    ...common,
    stdin: { contents: exportsOf(lazyModules), resolveDir: root, sourcefile: 'cli-runtime-entry.js', loader: 'js' },
    outfile: 'dist/cli-runtime.cjs',
    metafile: true,
    plugins: [{ name: 'from-shell', setup(b) {
      b.onResolve({ filter: /^\./ }, async (args) => {
        if (args.pluginData === 'resolving' || args.namespace !== 'file') return undefined;
        const path = await resolved(b, args);
        return shellModules.has(path) ? { path, namespace: 'shell' } : undefined;
      });
    } }, shim('shell', './cli.cjs')],
  }),
  build({ ...common, entryPoints: { 'signing-worker': 'src/adapters/threads/signing-worker.ts' }, outdir: 'dist', outExtension: { '.js': '.cjs' } }),
  build({ ...authorizerBuildOptions(root), outfile: join(root, 'dist', 'lambda', 'index.mjs') }),
  // `ca/cdk`: the CDK constructs, ESM; aws-cdk-lib and constructs come from the CDK app (optional peers). The CLI
  // never loads this file (test/cdk/package.test.ts).
  build({
    absWorkingDir: root,
    entryPoints: ['src/cdk/index.ts'],
    outfile: 'dist/cdk/index.js',
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    external: ['aws-cdk-lib', 'constructs', 'esbuild'],
    logLevel: 'warning',
  }),
  build({ ...tokenBuildOptions(root), outfile: join(root, 'dist', 'lambda-token', 'index.mjs') }),
]).catch(fail);

// one instance of each module: a module in both files would have two copies of its state and classes
const srcInputs = (r) => Object.keys(r.metafile.inputs).filter((i) => i.startsWith('src/'));
const both = srcInputs(shell).filter((i) => srcInputs(runtime).includes(i));
if (both.length) fail(new Error(`in both dist/cli.cjs and dist/cli-runtime.cjs: ${both.join(', ')}`));
if (srcInputs(runtime).length === 0) fail(new Error('dist/cli-runtime.cjs holds no module'));
for (const f of ['cli.cjs', 'cli-runtime.cjs', 'signing-worker.cjs']) {
  if (/\bimport\(/.test(readFileSync(join(root, 'dist', f), 'utf8'))) fail(new Error(`dist/${f} still calls import(): bin/ca.cjs runs it without an ES module loader`));
}

// The CLI's V8 code cache (see bin/ca.cjs), made by running `ca --help` once with this Node.
execFileSync(process.execPath, [join(root, 'scripts', 'code-cache.cjs')], { stdio: ['ignore', 'ignore', 'inherit'] });
