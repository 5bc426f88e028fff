/**
 * `ca/cdk` as the published package exposes it (the exports map, dist/cdk/index.js from the build), and the CLI
 * never loading the CDK: aws-cdk-lib and constructs are optional peers that only a CDK app installs.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, REPO, tempDir } from '../helpers/cli.js';

const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));

describe('the ca/cdk entry point', () => {
  it('is in the exports map (import and types), with aws-cdk-lib and constructs as optional peers; bin stays', () => {
    expect(pkg.bin).toEqual({ ca: 'bin/ca.cjs' });
    expect(pkg.exports['./cdk']).toEqual({ types: './dist/types/cdk/index.d.ts', import: './dist/cdk/index.js' });
    expect(pkg.files).toEqual(expect.arrayContaining(['dist', 'templates']));
    for (const p of ['aws-cdk-lib', 'constructs']) {
      expect(pkg.peerDependenciesMeta[p]).toEqual({ optional: true });
      expect(pkg.dependencies[p]).toBeUndefined();
    }
    expect(pkg.scripts.prepack).toContain('tsconfig.cdk.json');
  });

  it('resolves by its package name and exports the construct; the bundle imports aws-cdk-lib instead of carrying it', () => {
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('ca/cdk'); console.log(typeof m.MtlsApi, Object.keys(m.OUTPUTS).length)"], { cwd: REPO, encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim()).toBe('function 13');
    const bundle = readFileSync(join(REPO, 'dist/cdk/index.js'), 'utf8');
    expect(bundle).toMatch(/from "aws-cdk-lib"/);
    expect(bundle).not.toMatch(/class Stack extends|CfnResource = class/);
  });

  it('the CLI loads neither aws-cdk-lib nor constructs, even for --iac cdk; dist/cli*.cjs name neither', () => {
    for (const f of ['cli.cjs', 'cli-runtime.cjs']) expect(/require\("(aws-cdk-lib|constructs|cdk-nag)/.test(readFileSync(join(REPO, 'dist', f), 'utf8')), f).toBe(false);
    const dir = tempDir('ca-cdk-load-');
    const hook = join(dir, 'hook.cjs');
    writeFileSync(hook, "const M = require('node:module'); const load = M._load; M._load = function (req, ...a) { if (/^(aws-cdk-lib|constructs|cdk-nag)(\\/|$)/.test(req)) throw new Error('loaded ' + req); return load.call(this, req, ...a); };\n");
    for (const args of [['--version'], ['init', '--iac', 'cdk', '--dry-run', '--json'], ['authorizer', 'build', '--out', join(dir, 'a'), '--json']]) {
      const r = spawnSync(process.execPath, ['--require', hook, BIN, ...args], { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
  });
});
