import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';

/** The published JSON Schemas of every command's --json output (schemas/cli, shipped with the package). */
export const SCHEMA_DIR = resolve(import.meta.dirname, '..', '..', 'schemas', 'cli');

// ajv-formats is CommonJS: its default export arrives as the module object or the function, by loader
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (a: Ajv2020) => Ajv2020;

let compiled: Map<string, ValidateFunction> | undefined;

/** Every schema compiled once, strict (an unknown keyword or a typo in a schema is an error, not ignored). */
export function schemas(): Map<string, ValidateFunction> {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ allErrors: true, strict: true, strictRequired: false, allowUnionTypes: true });
  addFormats(ajv);
  const docs = readdirSync(SCHEMA_DIR)
    .filter((f) => f.endsWith('.schema.json'))
    .map((f) => [f.replace(/\.schema\.json$/, ''), JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8'))] as const);
  for (const [, doc] of docs) ajv.addSchema(doc);
  compiled = new Map(docs.map(([name, doc]) => [name, ajv.getSchema(doc.$id)!]));
  return compiled;
}

/** Global options that take a value (they may come before the command name). */
const VALUED = new Set(['--env', '--config', '--store', '--dir', '--passphrase-file']);

/**
 * The schema of the command these arguments run: `issue-client`, `truststore-verify`, `authorizer-build`...
 * undefined when no command is named (`--version`, `--help`).
 */
export function commandOf(args: string[]): string | undefined {
  const words: string[] = [];
  for (let i = 0; i < args.length && words.length < 2; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a.startsWith('-')) {
      if (VALUED.has(a)) i++;
      continue;
    }
    words.push(a);
    if (words.length === 1 && !['truststore', 'authorizer', 'audit', 'client', 'token-key', 'token'].includes(a)) break;
  }
  // `ca audit` lists (its operands are option values); `ca audit verify` checks
  if (words[0] === 'audit' && words[1] !== 'verify') return 'audit';
  return words.length ? words.join('-') : undefined;
}

/**
 * Checks a --json document against the schema of the command that printed it: the error schema when the
 * command failed with `{"error": …}`, else the command's (a failed check, e.g. `status --check`, prints its
 * result). Throws with ajv's error text when it does not conform.
 */
export function validateOutput(args: string[], exitCode: number, doc: unknown): void {
  const all = schemas();
  const isError = exitCode !== 0 && typeof doc === 'object' && doc !== null && 'error' in doc;
  const name = isError ? 'error' : commandOf(args);
  if (!name) throw new Error(`no command in ${JSON.stringify(args)}: no schema to check its JSON against`);
  const validate = all.get(name);
  if (!validate) throw new Error(`no schema schemas/cli/${name}.schema.json for \`ca ${args.join(' ')}\``);
  if (!validate(doc)) {
    const text = (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message}${e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''}`).join('\n  ');
    throw new Error(`\`ca ${args.join(' ')}\` printed JSON that does not match schemas/cli/${name}.schema.json:\n  ${text}`);
  }
}
