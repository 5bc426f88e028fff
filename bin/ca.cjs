#!/usr/bin/env node
'use strict';
// Starts the built CLI, dist/cli.cjs, with the V8 code cache the build leaves beside it (dist/cli.cjs.cache):
// compiling the bundle is a large part of what `ca --help` costs above `node -e 0`, and Node 20 has no compile
// cache of its own (module.enableCompileCache arrived in Node 22). A cache that does not belong to this exact
// source is not used; one V8 rejects (another Node version or V8 flags) only costs the compile.
// CommonJS, as is the built CLI: a CommonJS main starts without Node's ES module loader; and one file, since
// each module a start loads costs a resolution, a read and a compile.
const { readFileSync, realpathSync } = require('node:fs');
const { join } = require('node:path');
const vm = require('node:vm');
// CommonJS's own Module class (what require('node:module') gives, without building that public module)
const Module = module.constructor;

const DIST = join(__dirname, '..', 'dist');
const ENTRY = join(DIST, 'cli.cjs');
const CACHE = join(DIST, 'cli.cjs.cache');

/**
 * The cache file is a 4-byte little-endian length n, the n bytes of the source it was made from, then V8's
 * cached data. V8 itself checks only the source's length, so the bytes are compared here.
 * @param {Buffer} source
 * @returns {Buffer | undefined}
 */
function cachedDataFor(source, cacheFile = CACHE) {
  let cache;
  try {
    cache = readFileSync(cacheFile);
  } catch {
    return undefined;
  }
  if (cache.length < 4) return undefined;
  const n = cache.readUInt32LE(0);
  if (cache.length <= 4 + n || !cache.subarray(4, 4 + n).equals(source)) return undefined;
  return cache.subarray(4 + n);
}

/** The contents of a cache file for `source`, from a script that has run (so it holds what was compiled). */
function cacheFileContents(source, script) {
  const n = Buffer.alloc(4);
  n.writeUInt32LE(source.length, 0);
  return Buffer.concat([n, source, script.createCachedData()]);
}

/**
 * Compiles and runs dist/cli.cjs as Node's CommonJS loader would (same wrapper, require, __filename), and puts
 * it in require's cache: dist/cli-runtime.cjs, loaded when a command runs, requires it for the modules the two
 * share. The build turns every import() into require(), so the script needs no dynamic-import hook.
 * @returns {{ script: vm.Script, source: Buffer }}
 */
function runCli({ useCache = true } = {}) {
  const source = readFileSync(ENTRY);
  const script = new vm.Script(Module.wrap(source.toString('utf8')), {
    filename: ENTRY,
    cachedData: useCache ? cachedDataFor(source) : undefined,
  });
  const cli = new Module(ENTRY, module);
  cli.filename = ENTRY;
  // under the path require() resolves to as well (it follows symlinks, as in a dist/ that is one), or the
  // runtime's require('./cli.cjs') would load and run a second CLI
  require.cache[ENTRY] = cli;
  require.cache[realpathSync.native(ENTRY)] = cli;
  script.runInThisContext().call(cli.exports, cli.exports, Module.createRequire(ENTRY), cli, ENTRY, DIST);
  cli.loaded = true;
  return { script, source };
}

module.exports = { ENTRY, CACHE, cachedDataFor, cacheFileContents, runCli };

if (require.main === module) {
  try {
    runCli();
  } catch (e) {
    if (e?.code !== 'ENOENT' || e.path !== ENTRY) throw e;
    process.stderr.write('error: the CLI is not built (dist/ is missing)\nhint: run `npm install` (or `npm run build`) in the project first\n');
    process.exitCode = 1;
  }
}
