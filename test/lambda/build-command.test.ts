import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { ca, tempDir } from '../helpers/cli.js';

const dir = tempDir('ca-authz-build-');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ca authorizer build', () => {
  it('says which API Gateway setting the bundle expects: by default IAM policies, simple responses off, result TTL 0', () => {
    const r = ca(dir, ['authorizer', 'build', '--out', join(dir, 'a'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({
      zipPath: join(dir, 'a', 'authorizer.zip'),
      runtime: 'nodejs22.x',
      handler: 'index.handler',
      responseMode: 'iam',
      // the registry connection trusts its own roots; these two spare the cold start Node's bundled root store
      environment: { CA_RESPONSE_MODE: 'iam', NODE_OPTIONS: '--use-openssl-ca', SSL_CERT_FILE: '/dev/null' },
      httpApi: { authorizerType: 'REQUEST', enableSimpleResponses: false, authorizerResultTtlInSeconds: 0 },
      restApi: { type: 'REQUEST', authorizerResultTtlInSeconds: 0 },
    });
    const human = ca(dir, ['authorizer', 'build', '--out', join(dir, 'b')]);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toContain('answers: IAM policies to every event (CA_RESPONSE_MODE=iam, the default)');
    expect(human.stdout).toContain('HTTP API authorizer: REQUEST, EnableSimpleResponses false');
    expect(human.stdout).toContain('CA_RESPONSE_MODE=iam');
    expect(human.stdout).toContain('cold start: NODE_OPTIONS=--use-openssl-ca SSL_CERT_FILE=/dev/null');
  });

  it('with --response-mode simple asks for simple responses enabled and CA_RESPONSE_MODE=simple', () => {
    const r = ca(dir, ['authorizer', 'build', '--out', join(dir, 'c'), '--response-mode', 'simple', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ responseMode: 'simple', environment: { CA_RESPONSE_MODE: 'simple' }, httpApi: { enableSimpleResponses: true } });
    const human = ca(dir, ['authorizer', 'build', '--out', join(dir, 'd'), '--response-mode', 'simple']);
    expect(human.stdout).toContain('EnableSimpleResponses true (required: without it every request is a 500)');
  });

  it('refuses an unknown --response-mode as a usage error and writes nothing', () => {
    const r = ca(dir, ['authorizer', 'build', '--out', join(dir, 'e'), '--response-mode', 'token']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown --response-mode "token"/);
    expect(r.stderr).toMatch(/hint: use iam \(the default\) or simple/);
    expect(existsSync(join(dir, 'e'))).toBe(false);
  });

  it('records the authorizer mode (--mode, else authorizerMode / CA_AUTHORIZER_MODE) and the variables that mode needs', () => {
    const r = ca(dir, ['authorizer', 'build', '--out', join(dir, 'f'), '--mode', 'mtls+token', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ mode: 'mtls+token', environment: { CA_AUTHORIZER_MODE: 'mtls+token', CA_RESPONSE_MODE: 'iam' }, requiredEnvironment: ['CA_TABLE', 'CA_TOKEN_ISSUER', 'CA_TOKEN_AUDIENCE'] });
    const fromEnv = ca(dir, ['authorizer', 'build', '--out', join(dir, 'g'), '--json'], { CA_AUTHORIZER_MODE: 'jwt-jwks' });
    expect(fromEnv.json()).toMatchObject({ mode: 'jwt-jwks', requiredEnvironment: ['CA_JWKS_URL', 'CA_JWT_ISSUER', 'CA_JWT_AUDIENCE'] });
    const plain = ca(dir, ['authorizer', 'build', '--out', join(dir, 'h'), '--json']);
    expect(plain.json()).toMatchObject({ mode: 'mtls', environment: { CA_AUTHORIZER_MODE: 'mtls' } });
    const human = ca(dir, ['authorizer', 'build', '--out', join(dir, 'i'), '--mode', 'spiffe-jwt-svid']);
    expect(human.stdout).toContain('CA_AUTHORIZER_MODE=spiffe-jwt-svid');
    expect(human.stdout).toContain('CA_JWKS_URL, CA_JWT_AUDIENCE, CA_SPIFFE_TRUST_DOMAIN (required)');
  });

  it('refuses an unknown --mode as a usage error and writes nothing', () => {
    const r = ca(dir, ['authorizer', 'build', '--out', join(dir, 'j'), '--mode', 'oauth']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown authorizer mode "oauth"/);
    expect(existsSync(join(dir, 'j'))).toBe(false);
  });
});

describe('ca token build', () => {
  it('writes token.zip whose index.mjs runs without the repository: a bad environment answers server_error, never throws', async () => {
    const r = ca(dir, ['token', 'build', '--out', join(dir, 't'), '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({ zipPath: join(dir, 't', 'token.zip'), files: [join(dir, 't', 'token.zip')], runtime: 'nodejs22.x', handler: 'index.handler' });
    expect(doc.bundleBytes).toBeGreaterThan(1000);
    // the zip's one entry, unpacked by the system's unzip, imported from a directory outside the repository
    const out = join(tempDir('ca-token-zip-'), 'x');
    expect(spawnSync('unzip', ['-q', doc.zipPath, '-d', out], { timeout: 30_000 }).status).toBe(0);
    const run = spawnSync(
      process.execPath,
      ['--input-type=module', '-e', `const m = await import(${JSON.stringify(join(out, 'index.mjs'))}); const r = await m.handler({}); process.stdout.write(JSON.stringify(r));`],
      { cwd: out, encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 30_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const answer = JSON.parse(run.stdout.trim().split('\n').pop()!);
    expect(answer).toMatchObject({ statusCode: 500, isBase64Encoded: false });
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'server_error' });
    expect(run.stdout).toMatch(/CA_TABLE is not set/);
  });
});
