'use strict';
// Build step: runs `ca --help` (output discarded by the caller) and, as it exits, writes dist/cli.cjs.cache
// with the code V8 compiled for it, for bin/ca.cjs to use on every later start.
const { writeFileSync } = require('node:fs');
const { CACHE, cacheFileContents, runCli } = require('../bin/ca.cjs');

process.argv = [process.argv[0], 'ca', '--help'];
const { script, source } = runCli({ useCache: false });
process.on('exit', () => writeFileSync(CACHE, cacheFileContents(source, script)));
