#!/usr/bin/env node
import { existsSync } from 'node:fs';

const entry = new URL('../dist/cli.js', import.meta.url);
if (!existsSync(entry)) {
  process.stderr.write('error: the CLI is not built (dist/ is missing)\nhint: run `npm install` (or `npm run build`) in the project first\n');
  process.exit(1);
}
await import(entry.href);
