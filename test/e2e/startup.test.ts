import { describe, it, expect, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, PASSPHRASE, REPO, tempDir } from '../helpers/cli.js';
import { validateOutput } from '../helpers/json-schema.js';

const dir = tempDir('ca-startup-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// Preloaded into the CLI's process: at exit, prints every file CommonJS loaded and whether Node's ES module
// loader ran a module (its module_job code was loaded), so the test sees what a command pulled in.
const probe = join(dir, 'probe.cjs');
writeFileSync(
  probe,
  `process.on('exit', () => require('node:fs').writeSync(2, '\\nLOADED ' + JSON.stringify({ files: Object.keys(require.cache), esm: process.moduleLoadList.some((m) => m.includes('esm/module_job')) }) + '\\n'));\n`,
);

function loaded(args: string[]): { code: number; files: string[]; esm: boolean; stdout: string } {
  const r = spawnSync(process.execPath, ['--require', probe, BIN, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, CA_PASSPHRASE: PASSPHRASE }, timeout: 60_000 });
  const line = r.stderr.split('\n').find((l) => l.startsWith('LOADED '));
  expect(line, r.stderr).toBeDefined();
  const { files, esm } = JSON.parse(line!.slice('LOADED '.length)) as { files: string[]; esm: boolean };
  return { code: r.status ?? -1, files, esm, stdout: r.stdout };
}

const packagesIn = (files: string[]) => [...new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? []))].sort();

describe('what the CLI loads', () => {
  it.each([['--help'], ['--version'], ['issue-client', '--help'], ['rotate-intermediate', '--help'], ['help', 'truststore']])('`ca %s` loads no package and no ES module: only bin and dist/cli.cjs, not the runtime', (...args) => {
    const r = loaded(args);
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(0);
    expect(packagesIn(r.files)).toEqual([]);
    // bin/ca.cjs compiles dist/cli.cjs (with its code cache) and puts it in require's cache itself
    expect(r.files.sort()).toEqual([BIN, join(REPO, 'dist', 'cli.cjs'), probe].sort());
    expect(r.esm).toBe(false);
  });

  it('a subcommand\'s help lists every option it declares, though they are declared only when it is parsed', () => {
    for (const args of [['issue-client', '--help'], ['help', 'issue-client']]) {
      const r = spawnSync(process.execPath, [BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      for (const flag of ['--csr <file>', '--from <file>', '--prune', '--key-type <type>', '--deliver <where>', '--dry-run']) expect(r.stdout).toContain(flag);
    }
    const top = spawnSync(process.execPath, [BIN, '--help'], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
    expect(top.stdout).toMatch(/^ {2}issue-client \[options\] \[id\] /m);
    expect(top.stdout).toMatch(/^ {2}inspect <target> /m);
  });

  it('a command that issues loads the X.509 schemas it needs, and still no AWS SDK on the local store', () => {
    expect(loaded(['bootstrap', '--yes']).code).toBe(0);
    const r = loaded(['issue-client', 'startup-probe', '--json']);
    expect(r.code).toBe(0);
    expect(r.files).toContain(join(REPO, 'dist', 'cli-runtime.cjs'));
    const pkgs = packagesIn(r.files);
    expect(pkgs).toContain('@peculiar/asn1-x509');
    expect(pkgs.filter((p) => p.startsWith('@aws-sdk') || p.startsWith('@smithy'))).toEqual([]);
  });
});

describe('a dist/ reached through a symlink', () => {
  it('runs the CLI once: the runtime gets the instance of dist/cli.cjs that bin/ca.cjs started', () => {
    const copy = tempDir('ca-symlinked-');
    try {
      cpSync(join(REPO, 'bin'), join(copy, 'bin'), { recursive: true });
      cpSync(join(REPO, 'dist'), join(copy, 'build-output'), { recursive: true });
      symlinkSync('build-output', join(copy, 'dist'));
      cpSync(join(REPO, 'package.json'), join(copy, 'package.json'));
      symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
      const work = join(copy, 'work');
      mkdirSync(work);
      const run = (...args: string[]) => spawnSync(process.execPath, [join(copy, 'bin', 'ca.cjs'), ...args], { cwd: work, encoding: 'utf8', env: { ...process.env, CA_PASSPHRASE: PASSPHRASE }, timeout: 60_000 });
      const boot = run('bootstrap', '--yes', '--json');
      expect(boot.status, boot.stderr).toBe(0);
      expect(() => validateOutput(['bootstrap'], boot.status ?? -1, JSON.parse(boot.stdout))).not.toThrow(); // one document (one CLI ran), of the published shape
      expect(readdirSync(join(work, 'pki', 'truststore-versions'))).toEqual(['1.pem']);
      const missing = run('inspect', 'nosuch');
      expect(missing.status).toBe(4);
      expect(missing.stderr.trim().split('\n')).toEqual(['error: unknown client nosuch', 'hint: see `ca list`']);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});

/** Runs a CommonJS snippet in a plain Node process (the V8 flags the build's own run had) and returns its JSON. */
function node(code: string): any {
  const r = spawnSync(process.execPath, ['-e', code], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

describe('the code cache beside dist/cli.cjs', () => {
  it('belongs to the built source and V8 accepts it', () => {
    const r = node(`
      const { readFileSync } = require('node:fs'); const vm = require('node:vm'); const Module = require('node:module');
      const { ENTRY, cachedDataFor } = require('./bin/ca.cjs');
      const source = readFileSync(ENTRY); const data = cachedDataFor(source);
      const script = new vm.Script(Module.wrap(source.toString()), { filename: ENTRY, cachedData: data });
      console.log(JSON.stringify({ bytes: data ? data.length : 0, rejected: script.cachedDataRejected }));`);
    expect(r.bytes).toBeGreaterThan(10_000);
    expect(r.rejected).toBe(false);
  });

  it('is not used for a source that differs, even by one byte of the same length', () => {
    const r = node(`
      const { readFileSync } = require('node:fs');
      const { ENTRY, cachedDataFor } = require('./bin/ca.cjs');
      const source = readFileSync(ENTRY); const changed = Buffer.from(source); changed[changed.length - 2] ^= 1;
      console.log(JSON.stringify({ same: !!cachedDataFor(source), changed: !!cachedDataFor(changed), shorter: !!cachedDataFor(source.subarray(1)) }));`);
    expect(r).toEqual({ same: true, changed: false, shorter: false });
  });

  it.each([
    ['missing', null],
    ['empty', Buffer.alloc(0)],
    ['garbage', Buffer.from('not a cache at all, just some bytes')],
    ['for another source', (() => { const b = Buffer.alloc(4 + 3 + 100, 7); b.writeUInt32LE(3, 0); return b; })()],
  ])('when %s, the CLI still runs', (_what, contents) => {
    const copy = tempDir('ca-cache-');
    try {
      mkdirSync(join(copy, 'dist'));
      cpSync(join(REPO, 'bin'), join(copy, 'bin'), { recursive: true });
      cpSync(join(REPO, 'dist', 'cli.cjs'), join(copy, 'dist', 'cli.cjs'));
      cpSync(join(REPO, 'package.json'), join(copy, 'package.json'));
      symlinkSync(join(REPO, 'node_modules'), join(copy, 'node_modules'));
      if (contents) writeFileSync(join(copy, 'dist', 'cli.cjs.cache'), contents);
      const r = spawnSync(process.execPath, [join(copy, 'bin', 'ca.cjs'), '--version'], { encoding: 'utf8', timeout: 60_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).version);
    } finally {
      rmSync(copy, { recursive: true, force: true });
    }
  });
});
