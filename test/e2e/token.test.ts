import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, PASSPHRASE, ca, expectError, tempDir } from '../helpers/cli.js';
import { pyjwtVerify } from '../helpers/pyjwt.js';
import { FileTokenKeyCustody, FileTokenKeySet } from '../../src/adapters/local/file-token-keys.js';
import { rotateTokenKey } from '../../src/domain/token-keys.js';

/** The token service as a user meets it: the real binary, its --json contracts, and curl against `ca gateway`. */
let dir: string;
let gw: ChildProcess | undefined;
let url = '';
const AUD = 'https://api.example.com';

function curl(args: string[]): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    execFile('curl', ['-sS', '--max-time', '20', '--cacert', join(dir, 'pki', 'truststore.pem'), '-o', '-', '-w', '\n%{http_code}', ...args], { encoding: 'utf8', cwd: dir }, (_err, stdout) => {
      const i = stdout.lastIndexOf('\n');
      resolve({ status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) });
    });
  });
}
const cert = (id: string) => ['--cert', `bundles/${id}/${id}.crt`, '--key', `bundles/${id}/${id}.key`];

beforeAll(() => {
  dir = tempDir('ca-token-e2e-');
  expect(ca(dir, ['bootstrap', '--org', 'Example Org']).code).toBe(0);
});

afterAll(() => {
  if (gw?.pid && gw.exitCode === null) gw.kill('SIGTERM');
});

describe('scopes and audiences from the command line', () => {
  it('issue-client --scope/--audience records them (JSON contract), bad scopes exit 3, ca client scopes changes them', () => {
    const r = ca(dir, ['issue-client', 'acme', '--scope', 'orders:read', '--scope', 'orders:write,reports', '--audience', AUD, '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ scopes: ['orders:read', 'orders:write', 'reports'], audiences: [AUD] });
    expectError(ca(dir, ['issue-client', 'bad', '--scope', 'a"b']), 3, /invalid scope/);
    expect(ca(dir, ['issue-client', 'other', '--audience', AUD]).code).toBe(0);
    const dry = ca(dir, ['client', 'scopes', 'acme', '--remove', 'reports', '--dry-run', '--json']);
    expect(dry.json()).toMatchObject({ dryRun: true, before: ['orders:read', 'orders:write', 'reports'], after: ['orders:read', 'orders:write'], changed: true, files: [] });
    const done = ca(dir, ['client', 'scopes', 'acme', '--remove', 'reports', '--json']);
    expect(done.json()).toMatchObject({ dryRun: false, changed: true });
    expect(ca(dir, ['client', 'scopes', 'acme', '--json']).json()).toMatchObject({ dryRun: true, after: ['orders:read', 'orders:write'], changed: false });
    expectError(ca(dir, ['client', 'scopes', 'acme', '--set', 'a', '--add', 'b']), 2, /exclude each other/);
    expectError(ca(dir, ['client', 'scopes', 'nobody', '--add', 'x']), 4, /no certificate in use/);
    expect(ca(dir, ['client', 'audiences', 'acme', '--add', 'https://billing.example.com', '--json']).json()).toMatchObject({ field: 'audiences', after: [AUD, 'https://billing.example.com'] });
    // renew keeps them
    const renewed = ca(dir, ['renew', 'acme', '--json']).json();
    expect(renewed.renewed[0]).toMatchObject({ scopes: ['orders:read', 'orders:write'] });
  });

  it('ca token-key rotate/list/prune: --json contracts and --dry-run', () => {
    expect(ca(dir, ['token-key', 'list', '--json']).json()).toMatchObject({ keys: [] });
    const dry = ca(dir, ['token-key', 'rotate', '--dry-run', '--json']).json();
    expect(dry).toMatchObject({ dryRun: true, kid: null, files: [] });
    expect(ca(dir, ['token-key', 'list', '--json']).json().keys).toEqual([]);
    const r = ca(dir, ['token-key', 'rotate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({ dryRun: false, action: 'rotated', removed: [] });
    expect(doc.files).toContain(join(dir, 'pki', 'token', 'jwks.json'));
    const list = ca(dir, ['token-key', 'list', '--json']).json();
    expect(list.keys).toEqual([expect.objectContaining({ kid: doc.kid, status: 'signing', retireAfter: null })]);
    expectError(ca(dir, ['token-key', 'rotate'], { CA_PASSPHRASE: 'wrong-passphrase-1' }), 3, /passphrase/);
    // the key set is written beside the store: the rotation is in the audit trail all the same
    const events = ca(dir, ['audit', '--json']).json().events;
    expect(events.filter((e: { operation: string }) => e.operation === 'token-key rotate')).toEqual([
      expect.objectContaining({ change: 'other', result: 'ok', detail: expect.objectContaining({ tokenKeyAdded: doc.kid, activateAt: doc.activateAt }) }),
    ]);
    expect(events.some((e: { operation: string }) => e.operation === 'client scopes'), 'ca client scopes commits through the audited store').toBe(true);
    expect(ca(dir, ['audit', 'verify']).code).toBe(0);
    expect(ca(dir, ['token-key', 'prune', '--json']).json()).toMatchObject({ dryRun: false, removed: [], files: [] });
  });
});

describe('curl against ca gateway: POST /token, the JWKS, the metadata', () => {
  it('issues a token to the certificate\'s client, PyJWT verifies it with the served JWKS; refusals as RFC 6749 says', async () => {
    gw = spawn(process.execPath, [BIN, 'gateway', '--port', '0', '--quiet', '--json'], { cwd: dir, env: { ...process.env, CA_PASSPHRASE: PASSPHRASE, CA_TOKEN_AUDIENCE: 'https://default.example.com' }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const kill = setTimeout(() => gw?.kill('SIGKILL'), 60_000);
    await new Promise<void>((resolve, reject) => {
      gw!.stdout!.on('data', (d) => {
        out += d;
        try {
          url = JSON.parse(out).url;
          resolve();
        } catch {
          // not complete yet
        }
      });
      gw!.once('exit', () => reject(new Error(`gateway exited: ${out}`)));
    });
    try {
      const t = await curl([...cert('acme'), '-d', 'grant_type=client_credentials&scope=orders:read', `${url}token`]);
      expect(t.status, t.body).toBe(200);
      const tok = JSON.parse(t.body);
      expect(tok).toMatchObject({ token_type: 'Bearer', expires_in: 300, scope: 'orders:read' });
      const jwks = await curl([...cert('acme'), `${url}.well-known/jwks.json`]);
      expect(JSON.parse(jwks.body)).toEqual(JSON.parse(readFileSync(join(dir, 'pki', 'token', 'jwks.json'), 'utf8')));
      const issuer = url.replace(/\/$/, '');
      const v = pyjwtVerify(tok.access_token, JSON.parse(jwks.body), { audience: AUD, issuer, now: Math.floor(Date.now() / 1000) });
      expect(v.error).toBeUndefined();
      expect(v.claims).toMatchObject({ sub: 'acme', client_id: 'acme', scope: 'orders:read', aud: [AUD, 'https://billing.example.com'] });
      const meta = JSON.parse((await curl([...cert('acme'), `${url}.well-known/oauth-authorization-server`])).body);
      expect(meta).toMatchObject({ issuer, token_endpoint: `${issuer}/token`, tls_client_certificate_bound_access_tokens: true });
      // the default audience for a client without one
      const o = JSON.parse((await curl([...cert('other'), '-d', 'grant_type=client_credentials', `${url}token`])).body);
      expect(pyjwtVerify(o.access_token, JSON.parse(jwks.body), { audience: AUD, issuer }).ok).toBe(true);
      // another client's certificate asking as acme
      const mismatch = await curl([...cert('other'), '-d', 'grant_type=client_credentials&client_id=acme', `${url}token`]);
      expect(mismatch.status).toBe(401);
      expect(JSON.parse(mismatch.body).error).toBe('invalid_client');
      const grant = await curl([...cert('acme'), '-d', 'grant_type=authorization_code&code=x', `${url}token`]);
      expect([grant.status, JSON.parse(grant.body).error]).toEqual([400, 'unsupported_grant_type']);
      const json = await curl([...cert('acme'), '-H', 'content-type: application/json', '-d', '{"grant_type":"client_credentials"}', `${url}token`]);
      expect([json.status, JSON.parse(json.body).error]).toEqual([400, 'invalid_request']);
      const scope = await curl([...cert('acme'), '-d', 'grant_type=client_credentials&scope=reports', `${url}token`]);
      expect([scope.status, JSON.parse(scope.body).error]).toEqual([400, 'invalid_scope']);
      // revoked: the authorizer in front of /token denies it (as API Gateway would), no token
      expect(ca(dir, ['revoke', 'other', '--yes']).code).toBe(0);
      const revoked = await curl([...cert('other'), '-d', 'grant_type=client_credentials', `${url}token`]);
      expect(revoked.status).toBe(403);
      expect(revoked.body).not.toMatch(/access_token/);
    } finally {
      clearTimeout(kill);
      gw.kill('SIGTERM');
    }
  });
});

/** `ca gateway` as one process in mtls+token mode, the gateway's waiting for its JSON line factored out. */
async function startGatewayProcess(env: Record<string, string>, args: string[]): Promise<{ url: string; stop(): void }> {
  const child = spawn(process.execPath, [BIN, 'gateway', '--port', '0', '--quiet', '--json', ...args], { cwd: dir, env: { ...process.env, CA_PASSPHRASE: PASSPHRASE, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const kill = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const started = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      try {
        resolve(JSON.parse(out).url);
      } catch {
        // not complete yet
      }
    });
    child.once('exit', () => reject(new Error(`gateway exited: ${out} ${err}`)));
  });
  return {
    url: started,
    stop: () => {
      clearTimeout(kill);
      child.kill('SIGTERM');
    },
  };
}

describe('the whole flow: ca gateway --mode mtls+token', () => {
  it('a token from POST /token opens a protected route for the certificate it was issued to, and for no other', async () => {
    for (const id of ['gamma', 'delta']) expect(ca(dir, ['issue-client', id, '--scope', 'orders:read', '--audience', AUD]).code).toBe(0);
    const g = await startGatewayProcess({ CA_TOKEN_AUDIENCE: AUD, CA_ROUTE_SCOPES: JSON.stringify({ 'GET /orders': ['orders:read'] }) }, ['--mode', 'mtls+token']);
    try {
      const t = await curl([...cert('gamma'), '-d', 'grant_type=client_credentials', `${g.url}token`]);
      expect(t.status, t.body).toBe(200);
      const token = JSON.parse(t.body).access_token as string;
      const bearer = ['-H', `Authorization: Bearer ${token}`];
      // PyJWT, not ours, checks what the route will rely on: issuer = the gateway, our audience, bound to gamma's certificate
      const jwks = JSON.parse((await curl([...cert('gamma'), `${g.url}.well-known/jwks.json`])).body);
      const v = pyjwtVerify(token, jwks, { audience: AUD, issuer: g.url.replace(/\/$/, '') });
      expect(v.error).toBeUndefined();
      expect(v.claims).toMatchObject({ sub: 'gamma', client_id: 'gamma', scope: 'orders:read', cnf: { 'x5t#S256': expect.stringMatching(/^[A-Za-z0-9_-]{43}$/) } });

      const ok = await curl([...cert('gamma'), ...bearer, `${g.url}orders`]);
      expect(ok.status, ok.body).toBe(200);
      // the same token presented with another client's certificate: refused (cnf and client_id bind it to gamma)
      expect((await curl([...cert('delta'), ...bearer, `${g.url}orders`])).status).toBe(403);
      // the certificate alone is not enough in this mode
      expect((await curl([...cert('gamma'), `${g.url}orders`])).status).toBe(403);
      // delta's own token works for delta
      const d = JSON.parse((await curl([...cert('delta'), '-d', 'grant_type=client_credentials', `${g.url}token`])).body).access_token;
      expect((await curl([...cert('delta'), '-H', `Authorization: Bearer ${d}`, `${g.url}orders`])).status).toBe(200);
      // revoking gamma closes the route to its still-unexpired token at once
      expect(ca(dir, ['revoke', 'gamma', '--yes']).code).toBe(0);
      expect((await curl([...cert('gamma'), ...bearer, `${g.url}orders`])).status).toBe(403);
    } finally {
      g.stop();
    }
  });
});

describe('the audit trail of the token keys after a crash', () => {
  it('a key set written by a run killed before its audit event is recorded by the next token-key writer, once', async () => {
    const d = tempDir('ca-token-repair-');
    expect(ca(d, ['bootstrap', '--org', 'Example Org']).code).toBe(0);
    expect(ca(d, ['token-key', 'rotate']).code).toBe(0);
    // what a run killed right after writing the key set leaves: a published key the trail does not name
    const store = join(d, 'pki');
    const crashed = await rotateTokenKey(
      { custody: new FileTokenKeyCustody(store, async () => PASSPHRASE), set: new FileTokenKeySet(store), clock: { now: () => new Date(Date.now() + 2 * 3600_000) }, lock: { assertHeld: async () => {} } },
    );
    const kid = crashed.added!.kid;
    const before = ca(d, ['audit', '--json']).json().events;
    expect(JSON.stringify(before)).not.toContain(kid);
    const r = ca(d, ['token-key', 'prune', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const after = ca(d, ['audit', '--json']).json().events;
    expect(after.slice(before.length)).toEqual([expect.objectContaining({ operation: 'token-key prune', change: 'other', detail: expect.objectContaining({ tokenKeyAdded: kid, repaired: 'true' }) })]);
    expect(ca(d, ['audit', 'verify']).code).toBe(0);
    // recorded once: the next writer finds nothing to repair
    expect(ca(d, ['token-key', 'prune']).code).toBe(0);
    expect(ca(d, ['audit', '--json']).json().events).toHaveLength(after.length);
  });

  it('a key file a rotation killed after making its key left behind is removed by the next ca token-key rotate, reported as swept and recorded', async () => {
    const d = tempDir('ca-token-sweep-');
    expect(ca(d, ['bootstrap', '--org', 'Example Org']).code).toBe(0);
    expect(ca(d, ['token-key', 'rotate']).code).toBe(0);
    // what a run killed between making its key and saving the set leaves: the mark, and a key file nothing records
    const store = join(d, 'pki');
    const set = new FileTokenKeySet(store);
    const custody = new FileTokenKeyCustody(store, async () => PASSPHRASE);
    await set.markPending(new Date().toISOString());
    const orphan = custody.describeKey((await custody.create()).keyRef);
    expect(existsSync(orphan)).toBe(true);
    expect(ca(d, ['token-key', 'list', '--json']).json().keys).toHaveLength(1);
    const r = ca(d, ['token-key', 'rotate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ action: 'rotated', swept: [orphan] });
    expect(existsSync(orphan)).toBe(false);
    expect(await set.pendingSince()).toBeUndefined();
    const events = ca(d, ['audit', '--json']).json().events;
    expect(events.at(-1)).toMatchObject({ operation: 'token-key rotate', detail: expect.objectContaining({ tokenKeysSwept: orphan }) });
    // nothing left to sweep: the next run lists nothing of custody and reports no sweep
    expect(ca(d, ['token-key', 'prune', '--json']).json()).toMatchObject({ removed: [], swept: [] });
  });

  it('ca status warns (and --check fails) while a token key rotation has not finished; ca token-key prune finishes it', async () => {
    const d = tempDir('ca-token-status-');
    expect(ca(d, ['bootstrap', '--org', 'Example Org']).code).toBe(0);
    expect(ca(d, ['token-key', 'rotate']).code).toBe(0);
    expect(ca(d, ['status', '--check']).code).toBe(0);
    const store = join(d, 'pki');
    const custody = new FileTokenKeyCustody(store, async () => PASSPHRASE);
    await new FileTokenKeySet(store).markPending('2026-12-01T10:00:00.000Z');
    const orphan = custody.describeKey((await custody.create()).keyRef);
    expect(ca(d, ['status', '--json']).json().warnings).toContain('a token key rotation or prune has not finished (begun 2026-12-01T10:00:00.000Z): `ca token-key prune` removes the keys it may have left in custody');
    expectError(ca(d, ['status', '--check']), 7, /token key rotation or prune has not finished/);
    expect(ca(d, ['token-key', 'prune', '--json']).json()).toMatchObject({ removed: [], swept: [orphan] });
    expect(existsSync(orphan)).toBe(false);
    expect(ca(d, ['status', '--check']).code).toBe(0);
  });
});
