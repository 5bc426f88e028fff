import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { createAuthorizer, type Authorizer } from '../../src/lambda/authorizer.js';
import type { AuthorizerResponse } from '../../src/lambda/event.js';
import { revoke } from '../../src/domain/revocation.js';
import { at, makePki, type TestPki } from './pki.js';
import { SHAPES, clientCertOf } from './events.js';

/** mulberry32: small, fast, seeded, so a failure reproduces with FUZZ_SEED=<seed>. */
function prng(seed: number) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const int = (n: number) => Math.floor(next() * n);
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;
  return { next, int, pick };
}
type Rng = ReturnType<typeof prng>;

const ITERATIONS = Number(process.env.FUZZ_ITERATIONS ?? 5000);
const SEED = Number(process.env.FUZZ_SEED ?? 20240605);

function randomString(r: Rng): string {
  const kinds = [
    () => '',
    () => 'x'.repeat(r.int(64)),
    () => 'A'.repeat(200_000 + r.int(900_000)),
    () => String.fromCharCode(...Array.from({ length: r.int(40) }, () => r.int(0x10000))),
    () => '-----BEGIN CERTIFICATE-----\n' + Buffer.from(Array.from({ length: r.int(600) }, () => r.int(256))).toString('base64') + '\n-----END CERTIFICATE-----\n',
    () => '-----BEGIN CERTIFICATE-----',
    () => 'arn:aws:execute-api:*',
    () => '2.0',
    () => '1.0',
    () => 'REQUEST',
    () => '__proto__',
  ];
  return r.pick(kinds)();
}

function randomValue(r: Rng, depth = 0): unknown {
  const kinds: (() => unknown)[] = [
    () => null,
    () => undefined,
    () => r.int(2) === 0,
    () => r.next() * 1e9 - 5e8,
    () => NaN,
    () => randomString(r),
    () => (depth < 3 ? Array.from({ length: r.int(4) }, () => randomValue(r, depth + 1)) : []),
    () => (depth < 3 ? Object.fromEntries(Array.from({ length: r.int(4) }, () => [randomString(r).slice(0, 20), randomValue(r, depth + 1)])) : {}),
  ];
  return r.pick(kinds)();
}

/** Bit-flips, truncations and splices of a PEM: the DER may still parse, but it is no longer the certificate. */
function mutatePem(r: Rng, pem: string): string {
  const ops = [
    () => pem.slice(0, r.int(pem.length)),
    () => pem.slice(r.int(pem.length)),
    () => {
      const body = pem.replace(/-----[A-Z ]+-----|\s/g, '');
      const der = Buffer.from(body, 'base64');
      const i = r.int(der.length);
      der[i] = der[i]! ^ (1 << r.int(8));
      return `-----BEGIN CERTIFICATE-----\n${der.toString('base64')}\n-----END CERTIFICATE-----\n`;
    },
    () => {
      const i = r.int(pem.length);
      return pem.slice(0, i) + String.fromCharCode(r.int(128)) + pem.slice(i + 1);
    },
    () => pem + pem,
    () => pem.replace('CERTIFICATE', 'PRIVATE KEY'),
    () => pem.toLowerCase(),
    () => pem.repeat(200),
  ];
  return r.pick(ops)();
}

/** Every path to a value in a plain JSON-like tree. */
function paths(v: unknown, prefix: string[] = []): string[][] {
  if (typeof v !== 'object' || v === null) return [prefix];
  return [prefix, ...Object.keys(v).flatMap((k) => paths((v as Record<string, unknown>)[k], [...prefix, k]))];
}

function setAt(root: unknown, path: string[], value: unknown, drop: boolean): unknown {
  if (path.length === 0) return value;
  let o = root as Record<string, unknown>;
  for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
  const last = path[path.length - 1]!;
  if (drop) delete o[last];
  else o[last] = value;
  return root;
}

function mutate(r: Rng, base: unknown): unknown {
  let ev: unknown = structuredClone(base);
  const n = 1 + r.int(3);
  for (let i = 0; i < n; i++) {
    const all = paths(ev);
    const path = r.pick(all);
    const op = r.int(10);
    if (op === 0 && path.length > 0) ev = setAt(ev, path, undefined, true);
    else if (op <= 3) {
      const pemPath = all.find((p) => p[p.length - 1] === 'clientCertPem');
      const cur = pemPath ? (pemPath.reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], ev) as unknown) : undefined;
      if (pemPath && typeof cur === 'string' && cur.length > 0) ev = setAt(ev, pemPath, mutatePem(r, cur), false);
      else ev = setAt(ev, path, randomValue(r), false);
    } else if (op === 4 && typeof ev === 'object' && ev !== null && path.length > 0) {
      // a getter that throws: the handler must survive even hostile objects
      let o = ev as Record<string, unknown>;
      for (const k of path.slice(0, -1)) o = o[k] as Record<string, unknown>;
      Object.defineProperty(o, path[path.length - 1]!, { get: () => { throw new Error('hostile getter'); }, enumerable: false, configurable: true });
    } else if (op === 5) ev = r.pick([null, undefined, 0, '', [], [ev], 'event', true]);
    else ev = setAt(ev, path, randomValue(r), false);
    if (typeof ev !== 'object' || ev === null) break;
  }
  return ev;
}

function wellFormed(res: AuthorizerResponse): boolean {
  const ctxOk = (c: unknown) => typeof c === 'object' && c !== null && Object.values(c).every((v) => ['string', 'number', 'boolean'].includes(typeof v));
  if ('isAuthorized' in res) return typeof res.isAuthorized === 'boolean' && ctxOk(res.context);
  const st = res.policyDocument?.Statement;
  return (
    typeof res.principalId === 'string' &&
    res.policyDocument.Version === '2012-10-17' &&
    Array.isArray(st) &&
    st.length === 1 &&
    (st[0]!.Effect === 'Allow' || st[0]!.Effect === 'Deny') &&
    typeof st[0]!.Resource === 'string' &&
    ctxOk(res.context)
  );
}

const isAllow = (res: AuthorizerResponse) => ('isAuthorized' in res ? res.isAuthorized : res.policyDocument.Statement[0]!.Effect === 'Allow');

let pki: TestPki;
let foreign: TestPki;
let validPem: string;
let revokedPem: string;
let foreignPem: string;

beforeAll(async () => {
  pki = await makePki({ name: 'ca-fuzz' });
  foreign = await makePki({ name: 'ca-fuzz-foreign' });
  validPem = (await pki.issue('alice')).record.certificatePem;
  revokedPem = (await pki.issue('mallory')).record.certificatePem;
  await revoke(pki.ctx(at(1000)), { clientId: 'mallory' });
  foreignPem = (await foreign.issue('alice')).record.certificatePem;
});

afterAll(() => {
  pki?.cleanup();
  foreign?.cleanup();
});

/** The certificate PEM where the event's shape says it is, when the event still has a usable shape. */
function presentedPem(ev: unknown): string | undefined {
  try {
    const e = ev as Record<string, any>;
    const pem = e.version === '2.0' ? e.requestContext.authentication.clientCert.clientCertPem : e.requestContext.identity.clientCert.clientCertPem;
    return typeof pem === 'string' ? pem : undefined;
  } catch {
    return undefined;
  }
}

describe('fuzzed events', () => {
  it(`${ITERATIONS} mutated events (seed ${SEED}) never throw, are well formed, and never allow anything but the intact valid certificate`, async () => {
    const r = prng(SEED);
    const authorizers: Authorizer[] = (['simple', 'iam'] as const).map((responseMode) =>
      createAuthorizer({ registry: pki.store.registry, clock: { now: () => at(60_000) }, config: { responseMode, cacheTtlMs: 5000 }, log: () => {} }),
    );
    const validFp = new X509Certificate(validPem).fingerprint256;
    const bases = [validPem, revokedPem, foreignPem].flatMap((pem) => Object.values(SHAPES).map((make) => ({ pem, ev: make(clientCertOf(pem)) })));
    let allows = 0;
    for (let i = 0; i < ITERATIONS; i++) {
      const base = r.pick(bases);
      const ev = mutate(r, base.ev);
      const authorize = r.pick(authorizers);
      let res: AuthorizerResponse;
      try {
        res = await authorize(ev);
      } catch (e) {
        throw new Error(`iteration ${i} (FUZZ_SEED=${SEED}) threw: ${(e as Error).message}`);
      }
      expect(wellFormed(res), `iteration ${i} (FUZZ_SEED=${SEED}) malformed response`).toBe(true);
      expect(() => JSON.stringify(res)).not.toThrow();
      if (isAllow(res)) {
        allows++;
        const pem = presentedPem(ev);
        let fp: string | undefined;
        try {
          fp = pem ? new X509Certificate(pem).fingerprint256 : undefined;
        } catch {
          fp = undefined;
        }
        expect(fp, `iteration ${i} (FUZZ_SEED=${SEED}) allowed something other than the valid certificate`).toBe(validFp);
      }
    }
    // the mutator leaves some valid events intact (it mutates headers too); the run must have exercised both paths
    expect(allows).toBeGreaterThan(0);
    expect(allows).toBeLessThan(ITERATIONS / 3);
  });
});
