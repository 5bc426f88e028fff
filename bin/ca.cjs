#!/usr/bin/env node
'use strict';
// CommonJS, as is the built CLI: a CommonJS main starts without Node's ES module loader.
const { existsSync } = require('node:fs');
const { ENTRY, runCli } = require('./cli-loader.cjs');

if (!existsSync(ENTRY)) {
  process.stderr.write('error: the CLI is not built (dist/ is missing)\nhint: run `npm install` (or `npm run build`) in the project first\n');
  process.exit(1);
}
runCli();
