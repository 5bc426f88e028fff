import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildAuthorizerBundle } from '../../src/lambda/build.js';
import { authorizerBuildOptions } from '../../src/lambda/esbuild-options.mjs';
import { makePki, type TestPki } from './pki.js';
import { ROUTE_ARN, clientCertOf, eventRest, eventToken, eventV2, withAuthorization } from './events.js';

let dir: string;
let built: Awaited<ReturnType<typeof buildAuthorizerBundle>>;
let code: string;
let pki: TestPki;

function unzip(zip: string, into: string): void {
  try {
    execFileSync('unzip', ['-q', '-o', zip, '-d', into], { stdio: 'pipe' });
  } catch {
    execFileSync('python3', ['-m', 'zipfile', '-e', zip, into], { stdio: 'pipe' });
  }
}

/** A loopback port nothing listens on. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ca-bundle-'));
  built = await buildAuthorizerBundle({ outDir: join(dir, 'out') });
  unzip(built.zipPath, join(dir, 'fn'));
  code = readFileSync(join(dir, 'fn', 'index.mjs'), 'utf8');
  pki = await makePki({ name: 'ca-bundle-pki' });
  // The runner loads the zip's index.mjs as Lambda's runtime would (an ES module, `handler` export).
  writeFileSync(
    join(dir, 'fn', 'run.mjs'),
    [
      "import { readFileSync, writeFileSync } from 'node:fs';",
      'const t0 = performance.now();',
      "const m = await import('./index.mjs');",
      'const importMs = performance.now() - t0;',
      "const events = JSON.parse(readFileSync('events.json', 'utf8'));",
      'const out = [];',
      'for (const e of events) out.push(await m.handler(e));',
      "writeFileSync('result.json', JSON.stringify({ importMs, out, type: typeof m.handler }));",
    ].join('\n'),
  );
}, 120_000);

afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
  pki?.cleanup();
});

describe('the authorizer zip', () => {
  it('holds exactly index.mjs, intact and world-readable', () => {
    expect(built.zipPath).toBe(join(dir, 'out', 'authorizer.zip'));
    expect(statSync(built.zipPath).size).toBe(built.zipBytes);
    expect(Buffer.byteLength(code)).toBe(built.bundleBytes);
    expect(built.zipBytes).toBeLessThan(built.bundleBytes);
    const listing = execFileSync('python3', ['-c', 'import sys,zipfile;z=zipfile.ZipFile(sys.argv[1]);assert z.testzip() is None;print("\\n".join(f"{i.filename} {i.external_attr>>16:o}" for i in z.infolist()))', built.zipPath], { encoding: 'utf8' });
    expect(listing.trim()).toBe('index.mjs 100644');
  });

  it('contains none of the CLI-only packages', () => {
    for (const name of ['commander', 'inquirer', '@peculiar', 'reflect-metadata', 'Reflect.defineMetadata']) expect(code).not.toContain(name);
  });

  it('contains exactly one third-party package, jose (the token modes), and no AWS SDK client', async () => {
    const { build } = await import('esbuild');
    const r = await build({ ...authorizerBuildOptions(process.cwd()), write: false, metafile: true });
    const inOutput = Object.values(r.metafile.outputs).flatMap((o) => Object.entries(o.inputs).filter(([, i]) => i.bytesInOutput > 0).map(([f]) => f));
    const packages = new Set(inOutput.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? []));
    expect([...packages]).toEqual(['jose']);
    expect(inOutput.length).toBeGreaterThan(5);
    // Node's built-ins come in through process.getBuiltinModule (src/lambda/esbuild-options.mjs): a one-line shim each
    for (const f of inOutput) expect(f).toMatch(/^(src\/|node_modules\/jose\/|node-builtin:node:[a-z_/]+$)/);
    for (const name of ['DynamoDBClient', 'x-amz-user-agent', 'credential-provider', '@aws-sdk', '@smithy']) expect(code).not.toContain(name);
    // an ES module has no require(): a bundled CommonJS dependency would fail only when first called
    expect(code).not.toContain('Dynamic require of');
  });

  it('keeps the token verifier and jose behind a lazy initialiser: the mtls mode never evaluates them', async () => {
    const { build } = await import('esbuild');
    const r = await build({ ...authorizerBuildOptions(process.cwd()), write: false, minify: false, metafile: true });
    const text = r.outputFiles[0]!.text;
    // esbuild turns `import('./token-verifier.js')` into a call of the module's initialiser inside the promise
    const calls = text.match(/init_token_verifier\(\)/g) ?? [];
    expect(calls).toHaveLength(1);
    expect(text).toContain('Promise.resolve().then(() => (init_token_verifier(), token_verifier_exports))');
    expect(text).toMatch(/var init_token_verifier = __esm\(/);
    const jose = Object.values(r.metafile.outputs).flatMap((o) => Object.entries(o.inputs)).filter(([f]) => f.includes('node_modules/jose/'));
    expect(jose.length).toBeGreaterThan(0);
  });

  it('is the same bytes when built again', async () => {
    const again = await buildAuthorizerBundle({ outDir: join(dir, 'again') });
    expect(readFileSync(again.zipPath).equals(readFileSync(built.zipPath))).toBe(true);
  });

  it('loads in a fresh Node process and denies when the registry is unreachable, without crashing', async () => {
    const cert = clientCertOf((await pki.issue('alice')).record.certificatePem);
    const events = [null, { hello: 'world' }, eventV2(cert), eventRest(cert)];
    writeFileSync(join(dir, 'fn', 'events.json'), JSON.stringify(events));
    const port = await deadPort();
    const started = Date.now();
    const p = spawnSync(process.execPath, ['run.mjs'], {
      cwd: join(dir, 'fn'),
      encoding: 'utf8',
      timeout: 30_000,
      env: {
        PATH: process.env.PATH,
        CA_TABLE: 'ca-registry-test',
        AWS_REGION: 'eu-west-1',
        AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`,
        AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
        AWS_SECRET_ACCESS_KEY: 'not-a-secret',
        AWS_EC2_METADATA_DISABLED: 'true',
        CA_REGISTRY_TIMEOUT_MS: '1500',
        CA_RESPONSE_MODE: 'simple',
      },
    });
    expect(p.status, p.stderr).toBe(0);
    expect(Date.now() - started).toBeLessThan(15_000);
    const result = JSON.parse(readFileSync(join(dir, 'fn', 'result.json'), 'utf8')) as { out: any[]; type: string; importMs: number };
    expect(result.type).toBe('function');
    expect(result.out[0]).toEqual({ isAuthorized: false, context: { reason: 'malformed_event' } });
    expect(result.out[1]).toEqual({ isAuthorized: false, context: { reason: 'malformed_event' } });
    expect(result.out[2].isAuthorized).toBe(false);
    expect(['registry_error', 'registry_timeout']).toContain(result.out[2].context.reason);
    expect(result.out[3].policyDocument.Statement[0].Effect).toBe('Deny');
    const lines = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines).toHaveLength(4);
    for (const l of lines) expect(l).toMatchObject({ msg: 'authorizer decision', decision: 'Deny' });
    expect(p.stdout).not.toContain('BEGIN CERTIFICATE');
  });

  it('in mtls+token mode loads (its key set read begun at cold start) and denies when the registry is unreachable, without crashing', async () => {
    const cert = clientCertOf((await pki.issue('erin')).record.certificatePem);
    writeFileSync(join(dir, 'fn', 'events.json'), JSON.stringify([withAuthorization(eventV2(cert), 'Bearer a.b.c'), eventToken('Bearer a.b.c')]));
    const port = await deadPort();
    const p = spawnSync(process.execPath, ['run.mjs'], {
      cwd: join(dir, 'fn'),
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH, CA_TABLE: 'ca-registry-test', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: `http://127.0.0.1:${port}`, AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'not-a-secret', CA_REGISTRY_TIMEOUT_MS: '1500', CA_AUTHORIZER_MODE: 'mtls+token', CA_TOKEN_ISSUER: 'https://issuer.test', CA_TOKEN_AUDIENCE: 'https://api.test' },
    });
    expect(p.status, p.stderr).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, 'fn', 'result.json'), 'utf8')) as { out: any[] };
    expect(['registry_error', 'registry_timeout']).toContain(result.out[0].context.reason);
    expect(result.out[1].context.reason).toBe('no_client_cert');
    const lines = p.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    for (const l of lines) expect(l).toMatchObject({ decision: 'Deny', mode: 'mtls+token' });
  });

  it('in jwt-jwks mode answers a TOKEN event with a policy, and denies with key_set_error when the key set cannot be fetched', async () => {
    const port = await deadPort();
    writeFileSync(join(dir, 'fn', 'events.json'), JSON.stringify([eventToken('Bearer eyJhbGciOiJSUzI1NiIsImtpZCI6ImsifQ.eyJleHAiOjk5OTk5OTk5OTl9.c2ln')]));
    const p = spawnSync(process.execPath, ['run.mjs'], {
      cwd: join(dir, 'fn'),
      encoding: 'utf8',
      timeout: 30_000,
      env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', CA_AUTHORIZER_MODE: 'jwt-jwks', CA_JWKS_URL: `http://127.0.0.1:${port}/jwks.json`, CA_JWT_ISSUER: 'https://issuer.test', CA_JWT_AUDIENCE: 'https://api.test' },
    });
    expect(p.status, p.stderr).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, 'fn', 'result.json'), 'utf8')) as { out: any[] };
    expect(result.out[0]).toMatchObject({ principalId: 'anonymous', policyDocument: { Statement: [{ Effect: 'Deny' }] }, context: { reason: 'key_set_error' } });
  });

  it('refuses clearly at cold start when the environment has no usable credentials', async () => {
    const cert = clientCertOf((await pki.issue('dave')).record.certificatePem);
    writeFileSync(join(dir, 'fn', 'events.json'), JSON.stringify([eventV2(cert)]));
    const env = { PATH: process.env.PATH, CA_TABLE: 'ca-registry-test', AWS_REGION: 'eu-west-1', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' };
    for (const [vars, message] of [
      [{}, 'AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set'],
      [{ AWS_ACCESS_KEY_ID: 'AKIA EXAMPLE', AWS_SECRET_ACCESS_KEY: 'not-a-secret' }, 'AWS_ACCESS_KEY_ID is malformed'],
    ] as const) {
      const p = spawnSync(process.execPath, ['run.mjs'], { cwd: join(dir, 'fn'), encoding: 'utf8', timeout: 30_000, env: { ...env, ...vars } });
      expect(p.status, p.stderr).toBe(0);
      const result = JSON.parse(readFileSync(join(dir, 'fn', 'result.json'), 'utf8')) as { out: any[] };
      // CA_RESPONSE_MODE unset: the denial is a policy, which an HTTP API authorizer with AWS's defaults accepts
      expect(result.out[0]).toEqual({ principalId: 'anonymous', policyDocument: { Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: ROUTE_ARN }] }, context: { reason: 'config_error' } });
      const line = JSON.parse(p.stdout.trim()) as Record<string, unknown>;
      expect(line).toMatchObject({ level: 'error', reason: 'config_error', registryReads: 0 });
      expect(String(line.configError)).toContain(message);
    }
  });
});

describe("the authorizer bundle's built-ins", () => {
  it('come_in_through_process_getBuiltinModule_so_no_module_namespace_runs_their_lazy_getters_at_cold_start', async () => {
    const { build } = await import('esbuild');
    const r = await build({ ...authorizerBuildOptions(process.cwd()), write: false });
    const text = r.outputFiles[0]!.text;
    expect(text).not.toMatch(/from\s*"node:/);
    for (const m of ['node:crypto', 'node:net', 'node:tls']) expect(text).toContain(`process.getBuiltinModule("${m}")`);
    // and in a cold process the bundle leaves WebCrypto and BlockList unloaded, which ES module imports load
    const dir = mkdtempSync(join(tmpdir(), 'ca-builtins-'));
    try {
      const esm = await build({ ...authorizerBuildOptions(process.cwd(), { esmBuiltins: true }), write: false });
      const loaded = (code: string) => {
        writeFileSync(join(dir, 'index.mjs'), code);
        const p = spawnSync(process.execPath, ['--input-type=module', '-e', `await import(${JSON.stringify(join(dir, 'index.mjs'))}); console.log(JSON.stringify(process.moduleLoadList))`], {
          encoding: 'utf8',
          timeout: 20_000,
          // a registry nothing answers: the import only opens the connection (and waits at most 250 ms for it)
          env: { PATH: process.env.PATH, AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret', CA_TABLE: 't', AWS_ENDPOINT_URL: 'http://127.0.0.1:9' },
        });
        expect(p.status, p.stderr).toBe(0);
        return JSON.parse(p.stdout.trim().split('\n').pop()!) as string[];
      };
      const ours = loaded(text);
      const theirs = loaded(esm.outputFiles[0]!.text);
      for (const m of ['NativeModule internal/crypto/webcrypto', 'NativeModule internal/blocklist']) {
        expect(theirs).toContain(m);
        expect(ours).not.toContain(m);
      }
      expect(ours).toContain('NativeModule tls');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
