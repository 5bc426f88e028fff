import { describe, it, expect, afterAll } from 'vitest';
import { existsSync, rmSync } from 'node:fs';
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
});
