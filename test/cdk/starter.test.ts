/**
 * `ca init --iac cdk`: the starter CDK app is written, typechecks against the construct and synthesizes a stack that
 * uses it, offline. Its node_modules are links to this checkout (`ca` is the package itself).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { ca, tempDir } from '../helpers/cli.js';

const ROOT = join(import.meta.dirname, '..', '..');
const dir = tempDir('ca-starter-');
const app = join(dir, 'infra');
let out: any;

beforeAll(() => {
  const r = ca(dir, ['init', '--iac', 'cdk', '--stack-name', 'Pki', '--json']);
  expect(r.code, r.stderr).toBe(0);
  out = r.json();
  mkdirSync(join(app, 'node_modules', '@types'), { recursive: true });
  for (const p of ['aws-cdk-lib', 'constructs', '@types/node']) symlinkSync(join(ROOT, 'node_modules', p), join(app, 'node_modules', p));
  symlinkSync(ROOT, join(app, 'node_modules', 'ca'));
});

describe('ca init --iac cdk', () => {
  it('writes bin/app.ts, lib/stack.ts, cdk.json, package.json and tsconfig.json, named after the stack', () => {
    expect(out).toMatchObject({ dryRun: false, iac: 'cdk', directory: app, stack: 'Pki' });
    expect(out.files.map((f: string) => f.slice(app.length + 1)).sort()).toEqual(['bin/app.ts', 'cdk.json', 'lib/stack.ts', 'package.json', 'tsconfig.json']);
    expect(readFileSync(join(app, 'bin/app.ts'), 'utf8')).toContain("new CaStack(app, 'Pki', {");
    const pkg = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
    const version = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
    expect(pkg.devDependencies).toMatchObject({ ca: `^${version}`, 'aws-cdk-lib': expect.any(String), constructs: expect.any(String), 'aws-cdk': expect.any(String) });
    expect(JSON.parse(readFileSync(join(app, 'cdk.json'), 'utf8')).app).toBe('npx tsx bin/app.ts');
    expect(readFileSync(join(app, 'lib/stack.ts'), 'utf8')).toContain("from 'ca/cdk'");
  });

  it('refuses to overwrite (exit 5) unless --force; --dry-run writes nothing', () => {
    const again = ca(dir, ['init', '--iac', 'cdk', '--stack-name', 'Pki']);
    expect(again.code).toBe(5);
    expect(again.stderr).toMatch(/already exists/);
    const other = tempDir('ca-starter-dry-');
    const dry = ca(other, ['init', '--iac', 'cdk', '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({ dryRun: true, stack: 'Ca' });
    expect(existsSync(join(other, 'infra'))).toBe(false);
    expect(ca(other, ['init', '--iac', 'cdk', '--stack-name', '9bad']).code).toBe(2);
  });

  it('typechecks against the construct (tsc, the starter\'s own tsconfig, ca/cdk mapped to this checkout\'s source)', () => {
    writeFileSync(
      join(app, 'tsconfig.check.json'),
      JSON.stringify({ extends: './tsconfig.json', compilerOptions: { paths: { 'ca/cdk': [join(ROOT, 'src/cdk/index.ts')] } } }),
    );
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    let output = '';
    try {
      execFileSync(process.execPath, [tsc, '-p', join(app, 'tsconfig.check.json')], { encoding: 'utf8', timeout: 120_000 });
    } catch (e) {
      output = (e as { stdout: string }).stdout;
    }
    expect(output).toBe('');
  }, 120_000);

  it('synthesizes: its stack class, imported through ca/cdk as the published package resolves it, holds the MtlsApi', async () => {
    const { CaStack } = await import(pathToFileURL(join(app, 'lib/stack.ts')).href);
    const a = new App({ outdir: tempDir('ca-starter-out-') });
    const store = new CaStack(a, 'Pki', { env: { region: 'eu-west-1', account: '111122223333' } });
    const withDomain = new CaStack(a, 'PkiApi', {
      env: { region: 'eu-west-1', account: '111122223333' },
      domain: { name: 'api.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/x' },
      backendUrl: 'https://backend.example.com',
    });
    const t1 = Template.fromStack(store);
    t1.resourceCountIs('AWS::DynamoDB::Table', 1);
    t1.resourceCountIs('AWS::ApiGatewayV2::DomainName', 0);
    const t2 = Template.fromStack(withDomain);
    t2.hasResourceProperties('AWS::ApiGatewayV2::DomainName', { DomainName: 'api.example.com' });
    t2.hasResourceProperties('AWS::ApiGatewayV2::Integration', { IntegrationUri: 'https://backend.example.com' });
    expect(t2.toJSON().Outputs.CaDomains.Value).toBe('api.example.com:http');
  });
});
