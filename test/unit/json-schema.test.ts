import { describe, expect, it } from 'vitest';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { commandOf, schemas, SCHEMA_DIR, validateOutput } from '../helpers/json-schema.js';
import { BIN } from '../helpers/cli.js';

const cert = {
  clientId: 'acme',
  kind: 'client',
  serial: '6952014104ccf9812e60cc912217201a',
  fingerprint: 'fa444d2b424b2db0e9e74505fc1d5443e833a116f1e20cf4300e4068f91beb7b',
  status: 'active',
  subject: 'CN=acme, O=Example Org',
  issuer: 'CN=Example Issuing CA G1, O=Example Org',
  issuerSerial: '1b93bab038a3b0d915f9f55e436a885b',
  notBefore: '2026-12-01T11:46:37.000Z',
  notAfter: '2027-12-01T11:51:37.000Z',
  keyType: 'ec-p256',
  keyOrigin: 'generated',
  validityDays: 365,
  validityCapped: false,
};
const issued = { dryRun: false, action: 'issued', ...cert, replacedSerial: null, files: ['/b/acme/acme.crt', '/b/acme/chain.pem', '/b/acme/acme.key'] };

describe('the JSON Schemas of --json output (schemas/cli)', () => {
  it('every schema file is valid draft 2020-12 and compiles in strict mode', () => {
    const files = readdirSync(SCHEMA_DIR).filter((f) => f.endsWith('.schema.json'));
    const compiled = schemas();
    expect(compiled.size).toBe(files.length);
    for (const f of files) {
      const doc = JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8'));
      expect(doc.$schema, f).toBe('https://json-schema.org/draft/2020-12/schema');
      expect(compiled.get(f.replace(/\.schema\.json$/, '')), f).toBeTypeOf('function');
    }
  });

  it('every command of the CLI has a schema', () => {
    const help = spawnSync(process.execPath, [BIN, '--help'], { encoding: 'utf8' }).stdout;
    const commands = [...help.split(/^Commands:$/m)[1]!.split(/\n\s*\n/)[0]!.matchAll(/^ {2}([a-z][a-z-]+)/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
    expect(commands.length).toBeGreaterThan(10);
    const names = new Set(schemas().keys());
    for (const c of commands) expect([...names].some((n) => n === c || n.startsWith(`${c}-`)), `schema for ${c}`).toBe(true);
  });

  it('accepts a document of the documented shape', () => {
    expect(() => validateOutput(['issue-client', 'acme', '--json'], 0, issued)).not.toThrow();
    expect(() => validateOutput(['issue-client', 'acme', '--dry-run', '--json'], 0, { dryRun: true, action: 'issued', clientId: 'acme', replacedSerial: null, files: [] })).not.toThrow();
    expect(() => validateOutput(['--dir', 'x', 'list', '--json'], 0, { certificates: [{ ...cert, daysLeft: 364 }] })).not.toThrow();
    expect(() => validateOutput(['list', '--json'], 4, { error: { code: 'notFound', exitCode: 4, message: 'no CA', hint: 'run ca bootstrap' } })).not.toThrow();
  });

  it('rejects the old shapes with ajv\'s error text: paths for files, an OpenSSL curve name, a would- action, a missing dryRun', () => {
    const { files, ...noFiles } = issued;
    expect(() => validateOutput(['issue-client', 'acme', '--json'], 0, { ...noFiles, paths: files })).toThrow(/must NOT have unevaluated properties|must have required property 'files'/);
    expect(() => validateOutput(['issue-client', 'acme', '--json'], 0, { ...issued, keyType: 'ec-prime256v1' })).toThrow(/\/keyType must be equal to one of the allowed values/);
    expect(() => validateOutput(['issue-client', 'acme', '--dry-run', '--json'], 0, { dryRun: true, action: 'would-issue', clientId: 'acme', replacedSerial: null, files: [] })).toThrow(/\/action must be equal to one of the allowed values/);
    const { dryRun, ...noDry } = issued;
    expect(dryRun).toBe(false);
    expect(() => validateOutput(['issue-client', 'acme', '--json'], 0, noDry)).toThrow(/must have required property 'dryRun'/);
    expect(() => validateOutput(['list', '--json'], 0, { certificates: [{ ...cert, daysLeft: 1, notAfter: 'tomorrow' }] })).toThrow(/notAfter must match format "date-time"/);
    expect(() => validateOutput(['status', '--json'], 7, { error: { code: 'verification', exitCode: 7 } })).toThrow(/must have required property 'message'/);
  });

  it('derives the schema from the arguments: global options with values skipped, subcommands joined', () => {
    expect(commandOf(['--dir', 'list', 'status', '--json'])).toBe('status');
    expect(commandOf(['--env', 'prod', 'truststore', 'verify', 'f.pem', '--json'])).toBe('truststore-verify');
    expect(commandOf(['authorizer', '--json', 'build'])).toBe('authorizer-build');
    expect(commandOf(['issue-client', 'acme', '--out', 'x'])).toBe('issue-client');
    expect(commandOf(['--version'])).toBeUndefined();
  });
});
