import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate, createHash } from 'node:crypto';
import { createAuthorizer, type AuthorizerConfig } from '../../src/lambda/authorizer.js';
import type { AuthorizerResponse, PolicyResponse, SimpleResponse } from '../../src/lambda/event.js';
import { composeAuthorizer } from '../../src/lambda/compose.js';
import { readAuthorizerEnv } from '../../src/lambda/config.js';
import { revoke } from '../../src/domain/revocation.js';
import { retireIntermediate, rotateIntermediate } from '../../src/domain/hierarchy.js';
import type { CertificateRecord, Clock, RegistryReader } from '../../src/ports.js';
import { DAY, T0, at, makePki, type TestPki } from './pki.js';
import { DOCUMENTED_CLIENT_CERT, METHOD_ARN, ROUTE_ARN, SHAPES, clientCertOf, eventRest, eventToken, eventV1, eventV2, withPathLength, type SerialForm } from './events.js';

const allowed = (r: AuthorizerResponse) =>
  'isAuthorized' in r ? r.isAuthorized === true : r.policyDocument.Statement.length > 0 && r.policyDocument.Statement.every((s) => s.Effect === 'Allow');

function collect() {
  const entries: Record<string, unknown>[] = [];
  return { entries, log: (e: object) => entries.push(e as Record<string, unknown>) };
}

/** A clock the test moves. */
function movingClock(start: Date): Clock & { set(d: Date): void } {
  let t = start;
  return { now: () => new Date(t), set: (d) => (t = d) };
}

/** A wall clock and a monotonic clock the test moves together (cache expiry follows the monotonic one). */
function movingClocks(start: Date): Clock & { monotonic: () => number; set(d: Date): void } {
  let t = start.getTime();
  let mono = 0;
  return { now: () => new Date(t), monotonic: () => mono, set: (d) => ((mono += d.getTime() - t), (t = d.getTime())) };
}

let pki: TestPki;
let foreign: TestPki;
let alice: CertificateRecord;
let bob: CertificateRecord;
let carol: CertificateRecord;

beforeAll(async () => {
  pki = await makePki();
  foreign = await makePki({ name: 'ca-foreign' });
  alice = (await pki.issue('alice')).record;
  bob = (await pki.issue('bob')).record;
  carol = (await pki.issue('carol')).record;
});

afterAll(() => {
  pki?.cleanup();
  foreign?.cleanup();
});

function authz(o: { registry?: RegistryReader; clock?: Clock & { monotonic?: () => number }; config?: AuthorizerConfig } = {}) {
  const logs = collect();
  const run = createAuthorizer({ registry: o.registry ?? pki.store.registry, clock: o.clock ?? { now: () => at(60_000) }, monotonic: o.clock?.monotonic, config: { cacheTtlMs: 0, ...o.config }, log: logs.log });
  return Object.assign(run, { logs: logs.entries, last: () => logs.entries[logs.entries.length - 1]! });
}

describe('a valid certificate', () => {
  it.each(Object.entries(SHAPES))('is allowed for the %s shape with the identity in the context', async (shape, make) => {
    const a = authz({ config: { responseMode: 'iam' } });
    const r = (await a(make(clientCertOf(alice.certificatePem)))) as PolicyResponse;
    expect(r.principalId).toBe('alice');
    expect(r.policyDocument).toEqual({ Version: '2012-10-17', Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: shape === 'v2' ? ROUTE_ARN : METHOD_ARN }] });
    const der = new X509Certificate(alice.certificatePem).raw;
    expect(r.context).toEqual({
      clientId: 'alice',
      serial: alice.serial,
      fingerprint: createHash('sha256').update(der).digest('hex'),
      x5tS256: createHash('sha256').update(der).digest('base64url'),
      notAfter: alice.notAfter,
    });
    for (const v of Object.values(r.context)) expect(['string', 'number', 'boolean']).toContain(typeof v);
    expect(a.last()).toMatchObject({ decision: 'Allow', reason: 'active', clientId: 'alice', serial: alice.serial, shape });
  });

  it('gets a simple response on payload 2.0 in simple mode, and a policy on v1 and REST regardless', async () => {
    const a = authz({ config: { responseMode: 'simple' } });
    const cert = clientCertOf(alice.certificatePem);
    const v2 = (await a(eventV2(cert))) as SimpleResponse;
    expect(v2.isAuthorized).toBe(true);
    expect(v2.context.clientId).toBe('alice');
    expect('policyDocument' in (await a(eventV1(cert)))).toBe(true);
    expect('policyDocument' in (await a(eventRest(cert)))).toBe(true);
  });

  it('ignores the pre-formatted strings API Gateway adds: identity comes from the PEM', async () => {
    const a = authz({ config: { responseMode: 'simple' } });
    const cert = { ...clientCertOf(alice.certificatePem), serialNumber: bob.serial, subjectDN: 'CN=bob', issuerDN: 'CN=evil' };
    const r = (await a(eventV2(cert))) as SimpleResponse;
    expect(r.isAuthorized).toBe(true);
    expect(r.context.clientId).toBe('alice');
  });

  it('carries the SPIFFE ID when the certificate has one', async () => {
    const sp = await makePki({ name: 'ca-spiffe', policy: { spiffeTrustDomain: 'example.org' } });
    try {
      const rec = (await sp.issue('svc-a')).record;
      const a = authz({ registry: sp.store.registry, config: { responseMode: 'simple' } });
      const r = (await a(eventV2(clientCertOf(rec.certificatePem)))) as SimpleResponse;
      expect(r.isAuthorized).toBe(true);
      expect(r.context.spiffeId).toBe('spiffe://example.org/client/svc-a');
      // a record whose SPIFFE ID differs from the certificate's is refused
      const tampered: RegistryReader = { get: async (s) => { const x = await sp.store.registry.get(s); return x && x.kind === 'client' ? { ...x, spiffeId: 'spiffe://example.org/client/other' } : x; } };
      const b = authz({ registry: tampered });
      expect(allowed(await b(eventV2(clientCertOf(rec.certificatePem))))).toBe(false);
      expect(b.last().reason).toBe('client_id_mismatch');
    } finally {
      sp.cleanup();
    }
  });
});

describe('denials', () => {
  async function reasonFor(pem: string, o: Parameters<typeof authz>[0] = {}) {
    const reasons = new Set<unknown>();
    for (const make of Object.values(SHAPES)) {
      const a = authz(o);
      const r = await a(make(clientCertOf(pem)));
      expect(allowed(r)).toBe(false);
      if ('policyDocument' in r) expect(r.policyDocument.Statement[0]!.Effect).toBe('Deny');
      reasons.add(a.last().reason);
    }
    expect(reasons.size).toBe(1);
    return [...reasons][0];
  }

  it('denies an expired certificate and one not yet valid', async () => {
    expect(await reasonFor(alice.certificatePem, { clock: { now: () => at(400 * DAY) } })).toBe('expired');
    expect(await reasonFor(alice.certificatePem, { clock: { now: () => at(-DAY) } })).toBe('not_yet_valid');
  });

  it('denies a record whose own validity ended even if the certificate has not', async () => {
    const reg: RegistryReader = { get: async (s) => { const x = await pki.store.registry.get(s); return x && x.kind === 'client' ? { ...x, notAfter: at(30_000).toISOString() } : x; } };
    expect(await reasonFor(alice.certificatePem, { registry: reg })).toBe('expired');
  });

  it('denies a certificate from another CA as an unknown serial', async () => {
    const stranger = (await foreign.issue('alice')).record;
    expect(await reasonFor(stranger.certificatePem)).toBe('unknown_serial');
  });

  it('denies when the registry holds a different certificate under the serial', async () => {
    const reg: RegistryReader = { get: async (s) => { const x = await pki.store.registry.get(s); return x && x.kind === 'client' ? { ...x, fingerprint: '00'.repeat(32) } : x; } };
    expect(await reasonFor(alice.certificatePem, { registry: reg })).toBe('fingerprint_mismatch');
  });

  it('denies when the record names another client', async () => {
    const reg: RegistryReader = { get: async (s) => { const x = await pki.store.registry.get(s); return x && x.kind === 'client' ? { ...x, clientId: 'mallory' } : x; } };
    expect(await reasonFor(alice.certificatePem, { registry: reg })).toBe('client_id_mismatch');
  });

  it('denies when the recorded issuer did not sign the certificate, or is not an intermediate', async () => {
    const other = (await foreign.store.registry.list({ kind: 'intermediate' }))[0]!;
    const root = (await pki.store.registry.list({ kind: 'root' }))[0]!;
    for (const swap of [other, root]) {
      const reg: RegistryReader = {
        get: async (s) => (s === 'fake-issuer' ? swap : await pki.store.registry.get(s).then((x) => (x && x.kind === 'client' ? { ...x, issuerSerial: 'fake-issuer' } : x))),
      };
      expect(await reasonFor(alice.certificatePem, { registry: reg })).toBe('issuer_not_trusted');
    }
    const forged: RegistryReader = {
      get: async (s) => { const x = await pki.store.registry.get(s); return x && x.kind === 'intermediate' ? { ...x, certificatePem: other.certificatePem } : x; },
    };
    expect(await reasonFor(alice.certificatePem, { registry: forged })).toBe('issuer_not_trusted');
  });

  it('denies a CA certificate presented as a client certificate', async () => {
    const inter = (await pki.store.registry.list({ kind: 'intermediate' }))[0]!;
    expect(await reasonFor(inter.certificatePem)).toBe('not_a_client_certificate');
  });

  it('denies a revoked certificate at once', async () => {
    const dave = (await pki.issue('dave')).record;
    const a = authz();
    expect(allowed(await a(eventV2(clientCertOf(dave.certificatePem))))).toBe(true);
    await revoke(pki.ctx(at(1000)), { clientId: 'dave', reason: 'keyCompromise' });
    expect(await reasonFor(dave.certificatePem)).toBe('revoked');
  });
});

describe('rotation and grace', () => {
  it('allows a superseded certificate during its grace period, denies it after, and denies it once its intermediate is retired', async () => {
    const p = await makePki({ name: 'ca-rotate' });
    try {
      const old = (await p.issue('erin')).record;
      const r = await rotateIntermediate(p.ctx(at(DAY)));
      expect(r.reissued).toHaveLength(1);
      const fresh = r.reissued[0]!.record!;
      const oldRec = (await p.store.registry.get(old.serial))!;
      expect(oldRec.status).toBe('superseded');
      const within = authz({ registry: p.store.registry, clock: { now: () => at(2 * DAY) } });
      expect(allowed(await within(eventRest(clientCertOf(old.certificatePem))))).toBe(true);
      expect(within.last().reason).toBe('superseded_in_grace');
      expect(allowed(await within(eventRest(clientCertOf(fresh.certificatePem))))).toBe(true);
      const after = authz({ registry: p.store.registry, clock: { now: () => new Date(Date.parse(oldRec.graceUntil!) + 1000) } });
      expect(allowed(await after(eventV2(clientCertOf(old.certificatePem))))).toBe(false);
      expect(after.last().reason).toBe('superseded_grace_ended');

      await retireIntermediate(p.ctx(at(2 * DAY)), { force: true });
      const retired = authz({ registry: p.store.registry, clock: { now: () => at(2 * DAY) } });
      expect(allowed(await retired(eventV1(clientCertOf(old.certificatePem))))).toBe(false);
      expect(retired.last().reason).toBe('issuer_not_trusted');
      expect(allowed(await retired(eventV1(clientCertOf(fresh.certificatePem))))).toBe(true);
    } finally {
      p.cleanup();
    }
  });
});

describe('registry failures fail closed', () => {
  it('denies when the registry throws', async () => {
    const a = authz({ registry: { get: async () => { throw new Error('ProvisionedThroughputExceededException'); } } });
    for (const make of Object.values(SHAPES)) expect(allowed(await a(make(clientCertOf(alice.certificatePem))))).toBe(false);
    expect(a.last()).toMatchObject({ reason: 'registry_error', level: 'error' });
    expect(String(a.last().error)).toContain('ProvisionedThroughputExceededException');
  });

  it('denies when the registry throws synchronously', async () => {
    const a = authz({ registry: { get: () => { throw new Error('boom'); } } });
    expect(allowed(await a(eventV2(clientCertOf(alice.certificatePem))))).toBe(false);
    expect(a.last().reason).toBe('registry_error');
  });

  it('denies within the timeout when the registry hangs', async () => {
    const a = authz({ registry: { get: () => new Promise(() => {}) }, config: { registryTimeoutMs: 150 } });
    const t = Date.now();
    expect(allowed(await a(eventV2(clientCertOf(alice.certificatePem))))).toBe(false);
    const took = Date.now() - t;
    expect(a.last().reason).toBe('registry_timeout');
    expect(took).toBeGreaterThanOrEqual(140);
    expect(took).toBeLessThan(1000);
  });

  it('bounds both reads of one decision by one deadline', async () => {
    let calls = 0;
    const slow: RegistryReader = { get: (s) => new Promise((res) => setTimeout(() => { calls++; res(pki.store.registry.get(s)); }, 120)) };
    const a = authz({ registry: slow, config: { registryTimeoutMs: 200 } });
    const t = Date.now();
    expect(allowed(await a(eventV2(clientCertOf(alice.certificatePem))))).toBe(false);
    expect(Date.now() - t).toBeLessThan(400);
    expect(a.last().reason).toBe('registry_timeout');
    expect(calls).toBeGreaterThanOrEqual(1);
  });
});

describe('malformed events', () => {
  const inter = async () => (await pki.store.registry.list({ kind: 'intermediate' }))[0]!.certificatePem;
  const cases: [string, () => Promise<unknown>, string][] = [
    ['null', async () => null, 'malformed_event'],
    ['undefined', async () => undefined, 'malformed_event'],
    ['empty object', async () => ({}), 'malformed_event'],
    ['a string', async () => 'GET /', 'malformed_event'],
    ['an array', async () => [eventV2(clientCertOf(alice.certificatePem))], 'malformed_event'],
    ['no requestContext', async () => ({ ...eventV2(undefined), requestContext: undefined }), 'malformed_event'],
    ['requestContext a string', async () => ({ ...eventV2(undefined), requestContext: 'x' }), 'malformed_event'],
    ['no routeArn', async () => ({ ...eventV2(clientCertOf(alice.certificatePem)), routeArn: undefined }), 'malformed_event'],
    ['no clientCert (v2)', async () => eventV2(undefined), 'no_client_cert'],
    ['no clientCert (REST)', async () => eventRest(undefined), 'no_client_cert'],
    ['empty clientCertPem', async () => eventV1({ ...clientCertOf(alice.certificatePem), clientCertPem: '' }), 'no_client_cert'],
    ['clientCertPem a number', async () => eventV1({ ...clientCertOf(alice.certificatePem), clientCertPem: 42 }), 'malformed_event'],
    ['clientCertPem garbage', async () => eventV2({ ...clientCertOf(alice.certificatePem), clientCertPem: 'not a certificate' }), 'malformed_certificate'],
    ['clientCertPem with a broken body', async () => eventV2({ ...clientCertOf(alice.certificatePem), clientCertPem: alice.certificatePem.replace(/[A-Z]{4}/, 'AAAA!') }), 'malformed_certificate'],
    ['clientCertPem huge', async () => eventV2({ ...clientCertOf(alice.certificatePem), clientCertPem: alice.certificatePem + 'A'.repeat(1_000_000) }), 'malformed_certificate'],
    ['a CA certificate', async () => eventV2({ ...clientCertOf(alice.certificatePem), clientCertPem: await inter() }), 'not_a_client_certificate'],
    ['a TOKEN authorizer event', async () => eventToken(), 'no_client_cert'],
    ['a TOKEN authorizer event without methodArn', async () => ({ ...eventToken(), methodArn: undefined }), 'malformed_event'],
  ];
  it.each(cases)('denies %s', async (_name, make, reason) => {
    for (const mode of ['simple', 'iam'] as const) {
      const a = authz({ config: { responseMode: mode } });
      const r = await a(await make());
      expect(allowed(r)).toBe(false);
      expect(a.last().reason).toBe(reason);
    }
  });

  it('answers a malformed event with a Deny on everything when no resource is known', async () => {
    const a = authz({ config: { responseMode: 'iam' } });
    const r = (await a({})) as PolicyResponse;
    expect(r.policyDocument.Statement).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Deny', Resource: '*' }]);
    const rest = (await a(eventRest(undefined))) as PolicyResponse;
    expect(rest.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny', Resource: METHOD_ARN });
    expect(rest.context).toEqual({ reason: 'no_client_cert' });
  });
});

describe('cache', () => {
  function counting(inner: RegistryReader) {
    const r = { reads: [] as string[], get: async (s: string) => (r.reads.push(s), inner.get(s)) };
    return r;
  }

  it('with a TTL a revocation is seen once the TTL has passed; the issuer stays cached', async () => {
    const frank = (await pki.issue('frank')).record;
    const clock = movingClocks(at(60_000));
    const reg = counting(pki.store.registry);
    const a = authz({ registry: reg, clock, config: { cacheTtlMs: 5000 } });
    const ev = eventV2(clientCertOf(frank.certificatePem));
    expect(allowed(await a(ev))).toBe(true);
    expect(reg.reads).toEqual([frank.serial, frank.issuerSerial]);
    await revoke(pki.ctx(at(61_000)), { clientId: 'frank' });
    clock.set(at(64_000));
    expect(allowed(await a(ev))).toBe(true);
    expect(reg.reads).toHaveLength(2);
    clock.set(at(65_000));
    expect(allowed(await a(ev))).toBe(false);
    expect(a.last().reason).toBe('revoked');
    // one read: the intermediate's record is still cached
    expect(reg.reads).toHaveLength(3);
  });

  it('with TTL 0 a revocation is seen at once', async () => {
    const gina = (await pki.issue('gina')).record;
    const a = authz({ config: { cacheTtlMs: 0 } });
    const ev = eventV2(clientCertOf(gina.certificatePem));
    expect(allowed(await a(ev))).toBe(true);
    await revoke(pki.ctx(at(1000)), { clientId: 'gina' });
    expect(allowed(await a(ev))).toBe(false);
  });

  it('never caches a registry error', async () => {
    let fail = true;
    const reg: RegistryReader = { get: async (s) => { if (fail) throw new Error('throttled'); return pki.store.registry.get(s); } };
    const a = authz({ registry: reg, config: { cacheTtlMs: 60_000 } });
    const ev = eventRest(clientCertOf(bob.certificatePem));
    expect(allowed(await a(ev))).toBe(false);
    fail = false;
    expect(allowed(await a(ev))).toBe(true);
  });

  it('caches an unknown serial for the shorter negative TTL', async () => {
    const clock = movingClocks(at(60_000));
    const reg = counting(pki.store.registry);
    const a = authz({ registry: reg, clock, config: { cacheTtlMs: 5000, negativeCacheTtlMs: 1000 } });
    const stranger = (await foreign.issue('zed')).record;
    const ev = eventV2(clientCertOf(stranger.certificatePem));
    await a(ev);
    await a(ev);
    expect(reg.reads).toHaveLength(1);
    clock.set(at(61_000));
    await a(ev);
    expect(reg.reads).toHaveLength(2);
    expect(a.last().reason).toBe('unknown_serial');
  });

  it('keeps at most cacheMax client records', async () => {
    const reg = counting(pki.store.registry);
    const a = authz({ registry: reg, config: { cacheTtlMs: 60_000, cacheMax: 1 } });
    const [ea, eb] = [alice, carol].map((r) => eventV2(clientCertOf(r.certificatePem)));
    await a(ea!);
    await a(eb!);
    await a(ea!);
    expect(reg.reads.filter((s) => s === alice.serial)).toHaveLength(2);
  });
});

describe('logs and metrics', () => {
  it('log one line per decision without any PEM, with an EMF metric', async () => {
    const a = authz({ config: { metricsNamespace: 'Test/Authz' } });
    await a(eventV2(clientCertOf(alice.certificatePem)));
    await a(eventV2({ ...clientCertOf(alice.certificatePem), clientCertPem: '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----' }));
    await createAuthorizer({ registry: { get: async () => { throw new Error(`bad ${alice.certificatePem}`); } }, log: (e) => a.logs.push(e as Record<string, unknown>) })(eventV2(clientCertOf(alice.certificatePem)));
    expect(a.logs).toHaveLength(3);
    const body = alice.certificatePem.split('\n')[1]!;
    for (const e of a.logs) {
      const line = JSON.stringify(e);
      expect(line).not.toContain('BEGIN');
      expect(line).not.toContain(body);
      expect(e).toMatchObject({ msg: 'authorizer decision' });
      expect(typeof e.latencyMs).toBe('number');
    }
    expect(a.logs[0]).toMatchObject({
      level: 'info',
      decision: 'Allow',
      reason: 'active',
      clientId: 'alice',
      serial: alice.serial,
      Decisions: 1,
      _aws: { CloudWatchMetrics: [{ Namespace: 'Test/Authz', Dimensions: [['decision', 'reason']], Metrics: [{ Name: 'Decisions', Unit: 'Count' }] }] },
    });
    expect(a.logs[1]).toMatchObject({ level: 'warn', decision: 'Deny', reason: 'malformed_certificate' });
  });

  it('omit the metric when the namespace is empty', async () => {
    const a = authz({ config: { metricsNamespace: '' } });
    await a({});
    expect(a.last()._aws).toBeUndefined();
  });

  it('a throwing logger does not change the decision', async () => {
    const run = createAuthorizer({ registry: pki.store.registry, config: { cacheTtlMs: 0 }, log: () => { throw new Error('disk full'); } });
    expect(allowed(await run(eventV2(clientCertOf(alice.certificatePem))))).toBe(true);
  });
});

describe('configuration', () => {
  it('reads the environment with defaults', () => {
    expect(readAuthorizerEnv({ CA_TABLE: 't', AWS_REGION: 'eu-west-1' })).toEqual({
      tableName: 't',
      region: 'eu-west-1',
      config: { responseMode: undefined, cacheTtlMs: undefined, negativeCacheTtlMs: undefined, caCacheTtlMs: undefined, cacheMax: undefined, registryTimeoutMs: undefined, metricsNamespace: undefined },
    });
    const e = readAuthorizerEnv({ CA_TABLE: 't', AWS_REGION: 'r', CA_RESPONSE_MODE: 'IAM', CA_CACHE_TTL_MS: '0', CA_CACHE_MAX: '50', CA_REGISTRY_TIMEOUT_MS: '1500', CA_METRICS_NAMESPACE: 'off' });
    expect(e.config).toMatchObject({ responseMode: 'iam', cacheTtlMs: 0, cacheMax: 50, registryTimeoutMs: 1500, metricsNamespace: '' });
  });

  it.each([
    [{ AWS_REGION: 'r' }, /CA_TABLE/],
    [{ CA_TABLE: 't' }, /AWS_REGION/],
    [{ CA_TABLE: 't', AWS_REGION: 'r', CA_RESPONSE_MODE: 'token' }, /CA_RESPONSE_MODE/],
    [{ CA_TABLE: 't', AWS_REGION: 'r', CA_CACHE_TTL_MS: '5s' }, /CA_CACHE_TTL_MS/],
    [{ CA_TABLE: 't', AWS_REGION: 'r', CA_REGISTRY_TIMEOUT_MS: '20000' }, /CA_REGISTRY_TIMEOUT_MS/],
    [{ CA_TABLE: 't', AWS_REGION: 'r', CA_REGISTRY_TIMEOUT_MS: '0' }, /CA_REGISTRY_TIMEOUT_MS/],
  ])('refuses %j with a clear error', (env, msg) => {
    expect(() => readAuthorizerEnv(env)).toThrow(msg);
  });

  it('a bad environment denies every request with config_error instead of throwing', async () => {
    const logs = collect();
    const run = composeAuthorizer({ AWS_REGION: 'r' }, () => pki.store.registry, { log: logs.log });
    const r = await run(eventV2(clientCertOf(alice.certificatePem)));
    expect(allowed(r)).toBe(false);
    expect(logs.entries[0]).toMatchObject({ reason: 'config_error', level: 'error' });
    expect(String(logs.entries[0]!.configError)).toMatch(/CA_TABLE/);
  });

  it('a good environment composes a working authorizer', async () => {
    const run = composeAuthorizer({ CA_TABLE: 't', AWS_REGION: 'r', CA_CACHE_TTL_MS: '0' }, () => pki.store.registry, { log: () => {}, clock: { now: () => at(60_000) } });
    expect(allowed(await run(eventV2(clientCertOf(alice.certificatePem))))).toBe(true);
  });

  it('an invalid programmatic config denies with config_error', async () => {
    const logs = collect();
    const run = createAuthorizer({ registry: pki.store.registry, config: { cacheTtlMs: -1 }, log: logs.log });
    expect(allowed(await run(eventV2(clientCertOf(alice.certificatePem))))).toBe(false);
    expect(logs.entries[0]!.reason).toBe('config_error');
  });
});

describe('answers API Gateway accepts in every configuration', () => {
  const policy = (r: AuthorizerResponse) => {
    expect('policyDocument' in r, JSON.stringify(r)).toBe(true);
    return r as PolicyResponse;
  };

  it('answers an IAM policy by default, the format an HTTP API authorizer expects with simple responses off (AWS default) and REST always', async () => {
    const run = createAuthorizer({ registry: pki.store.registry, clock: { now: () => at(60_000) }, config: { cacheTtlMs: 0 }, log: () => {} });
    for (const [shape, make] of Object.entries(SHAPES)) {
      const allow = policy(await run(make(clientCertOf(alice.certificatePem))));
      expect(allow.policyDocument.Statement, shape).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: shape === 'v2' ? ROUTE_ARN : METHOD_ARN }]);
      const deny = policy(await run(make(clientCertOf((await foreign.issue(`x-${shape}`)).record.certificatePem))));
      expect(deny.policyDocument.Statement[0]!.Effect, shape).toBe('Deny');
      expect(deny.context).toEqual({ reason: 'unknown_serial' });
    }
    // the environment's default is the same
    expect(readAuthorizerEnv({ CA_TABLE: 't', AWS_REGION: 'r' }).config.responseMode).toBeUndefined();
  });

  it('answers a simple response only when asked, and then only to payload 2.0 events', async () => {
    const run = composeAuthorizer({ CA_TABLE: 't', AWS_REGION: 'r', CA_RESPONSE_MODE: 'simple', CA_CACHE_TTL_MS: '0' }, () => pki.store.registry, { log: () => {}, clock: { now: () => at(60_000) } });
    expect(await run(eventV2(clientCertOf(alice.certificatePem)))).toMatchObject({ isAuthorized: true, context: { clientId: 'alice' } });
    expect(policy(await run(eventV1(clientCertOf(alice.certificatePem)))).policyDocument.Statement[0]!.Effect).toBe('Allow');
    expect(policy(await run(eventRest(clientCertOf(alice.certificatePem)))).policyDocument.Statement[0]!.Effect).toBe('Allow');
  });

  it('answers a config_error in the format the event requires: a policy by default, and the configured mode when it is valid', async () => {
    const cert = clientCertOf(alice.certificatePem);
    // CA_TABLE missing, no CA_RESPONSE_MODE: every shape gets a Deny policy (an HTTP API with AWS's defaults accepts it)
    const byDefault = composeAuthorizer({ AWS_REGION: 'r' }, () => pki.store.registry, { log: () => {} });
    for (const make of Object.values(SHAPES)) {
      const r = policy(await byDefault(make(cert)));
      expect(r.policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny', Resource: ROUTE_ARN });
      expect(r.context).toEqual({ reason: 'config_error' });
    }
    // an invalid value elsewhere keeps a valid CA_RESPONSE_MODE
    const simple = composeAuthorizer({ AWS_REGION: 'r', CA_RESPONSE_MODE: 'simple' }, () => pki.store.registry, { log: () => {} });
    expect(await simple(eventV2(cert))).toEqual({ isAuthorized: false, context: { reason: 'config_error' } });
    expect(policy(await simple(eventRest(cert))).policyDocument.Statement[0]!.Effect).toBe('Deny');
    // an invalid programmatic setting keeps the valid response mode beside it
    const logs = collect();
    const iam = createAuthorizer({ registry: pki.store.registry, config: { responseMode: 'iam', cacheTtlMs: -1 }, log: logs.log });
    expect(policy(await iam(eventV2(cert))).policyDocument.Statement[0]).toMatchObject({ Effect: 'Deny', Resource: ROUTE_ARN });
    expect(logs.entries[0]).toMatchObject({ reason: 'config_error', shape: 'v2' });
  });

  it('keeps the policy resource within the 512 characters API Gateway allows: a 500-character path gets the stage and verb wildcard', async () => {
    const a = authz({ config: { responseMode: 'iam' } });
    const wildcard = 'arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/*';
    for (const [shape, make] of Object.entries(SHAPES)) {
      const long = withPathLength(make(clientCertOf(alice.certificatePem)), 500);
      const arn = (long as { routeArn?: string; methodArn?: string }).routeArn ?? (long as { methodArn?: string }).methodArn!;
      expect(arn.length, shape).toBeGreaterThan(512);
      const allow = policy(await a(long));
      expect(allow.policyDocument.Statement, shape).toEqual([{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: wildcard }]);
      const deny = policy(await a(withPathLength(make({ ...clientCertOf(bob.certificatePem), clientCertPem: 'not a certificate' }), 500)));
      expect(deny.policyDocument.Statement[0]!, shape).toMatchObject({ Effect: 'Deny', Resource: wildcard });
    }
    // at the limit the exact ARN is kept
    const base = eventRest(clientCertOf(alice.certificatePem));
    const exact = withPathLength(base, 512 - (base.methodArn.length - '/request'.length));
    expect(exact.methodArn.length).toBe(512);
    expect(policy(await a(exact)).policyDocument.Statement[0]!.Resource).toBe(exact.methodArn);
  });
});

describe('recorded-shape events (AWS documentation examples, see events.ts)', () => {
  const forms: SerialForm[] = ['colon-hex', 'decimal'];
  it.each(Object.keys(SHAPES).flatMap((shape) => forms.map((form) => [shape, form] as const)))('allows the documented %s event with serialNumber in %s form', async (shape, form) => {
    const cert = clientCertOf(alice.certificatePem, form);
    expect(cert.validity.notBefore).toMatch(/^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4} GMT$/);
    if (form === 'decimal') expect(cert.serialNumber).toMatch(/^\d+$/);
    else expect(cert.serialNumber).toMatch(/^[0-9a-f]{2}(:[0-9a-f]{2})+$/);
    for (const mode of ['simple', 'iam'] as const) {
      const a = authz({ config: { responseMode: mode } });
      expect(allowed(await a(SHAPES[shape as keyof typeof SHAPES](cert))), `${shape} ${mode}`).toBe(true);
      expect(a.last()).toMatchObject({ reason: 'active', shape, serial: alice.serial });
    }
  });

  it('denies the documented example verbatim (placeholder CERT_CONTENT) as a malformed certificate, in the format of its API', async () => {
    const a = authz();
    for (const make of Object.values(SHAPES)) {
      const r = await a(make(DOCUMENTED_CLIENT_CERT));
      expect('policyDocument' in r && r.policyDocument.Statement[0]!.Effect).toBe('Deny');
      expect(a.last().reason).toBe('malformed_certificate');
    }
  });

  it('takes identity from the PEM, not from a decimal serialNumber or a validity string naming another certificate', async () => {
    const a = authz();
    const lying = { ...clientCertOf(bob.certificatePem, 'decimal'), clientCertPem: alice.certificatePem, validity: { notBefore: 'Aug  5 09:36:04 2021 GMT', notAfter: 'Aug  6 09:36:04 2021 GMT' } };
    const r = (await a(eventV1(lying))) as PolicyResponse;
    expect(r.principalId).toBe('alice');
    expect(r.context.serial).toBe(alice.serial);
  });
});

describe('cache expiry on a monotonic clock', () => {
  it('a wall clock stepped back 60 s does not keep a revoked certificate allowed past CA_CACHE_TTL_MS', async () => {
    const hal = (await pki.issue('hal')).record;
    const wall = movingClock(at(120_000));
    let mono = 1_000_000;
    const logs = collect();
    const run = createAuthorizer({ registry: pki.store.registry, clock: wall, monotonic: () => mono, config: { cacheTtlMs: 5000 }, log: logs.log });
    const ev = eventV2(clientCertOf(hal.certificatePem));
    expect(allowed(await run(ev))).toBe(true);
    await revoke(pki.ctx(at(121_000)), { clientId: 'hal' });
    // NTP steps the wall clock back 60 s; 5 s pass
    wall.set(at(120_000 - 60_000 + 5_000));
    mono += 5_000;
    expect(allowed(await run(ev))).toBe(false);
    expect(logs.entries.at(-1)).toMatchObject({ reason: 'revoked', registryReads: 1 });
  });

  it('a wall clock stepped forward does not expire the cache early, and the monotonic TTL still does', async () => {
    const wall = movingClock(at(60_000));
    let mono = 0;
    const reads: string[] = [];
    const reg: RegistryReader = { get: (s) => (reads.push(s), pki.store.registry.get(s)) };
    const run = createAuthorizer({ registry: reg, clock: wall, monotonic: () => mono, config: { cacheTtlMs: 5000 }, log: () => {} });
    const ev = eventRest(clientCertOf(carol.certificatePem));
    await run(ev);
    wall.set(at(60_000 + 3_600_000));
    mono += 1_000;
    expect(allowed(await run(ev))).toBe(true);
    expect(reads).toHaveLength(2);
    mono += 4_000;
    await run(ev);
    expect(reads).toHaveLength(3);
  });
});

void T0;
