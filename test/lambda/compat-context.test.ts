import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { createAuthorizer, type AuthorizerConfig } from '../../src/lambda/authorizer.js';
import type { SimpleResponse } from '../../src/lambda/event.js';
import { readAuthorizerEnv } from '../../src/lambda/config.js';
import type { CertificateRecord, RegistryReader } from '../../src/ports.js';
import { at, makePki, type TestPki } from './pki.js';
import { clientCertOf, eventV2 } from './events.js';

/** The old setup's context keys (`ca import`, src/lambda/README.md "Context keys of an imported setup"). */
const COMPAT = ['serialNumber', 'clientCN', 'validityNotBefore', 'validityNotAfter'];

let pki: TestPki;
let alice: CertificateRecord;

beforeAll(async () => {
  pki = await makePki({ name: 'ca-compat' });
  alice = (await pki.issue('alice')).record;
});
afterAll(() => pki?.cleanup());

/** The registry, with alice's record marked as imported when asked. */
function registry(imported: boolean): RegistryReader {
  return { get: async (s) => {
    const r = await pki.store.registry.get(s);
    return r && r.serial === alice.serial && imported ? { ...r, importedFrom: 'mtls-clients-metadata#1' } : r;
  } };
}

async function contextOf(imported: boolean, config: AuthorizerConfig = {}, pem = alice.certificatePem) {
  const a = createAuthorizer({ registry: registry(imported), clock: { now: () => at(60_000) }, config: { cacheTtlMs: 0, responseMode: 'simple', ...config }, log: () => {} });
  return (await a(eventV2(clientCertOf(pem)))) as SimpleResponse;
}

describe('the context keys of the setup ca import adopts', () => {
  it('are offered beside ours for an imported client: the serial in decimal, the CN, the validity in ISO-8601', async () => {
    const r = await contextOf(true);
    expect(r.isAuthorized).toBe(true);
    const x = new X509Certificate(alice.certificatePem);
    expect(r.context).toMatchObject({
      clientId: 'alice',
      serial: alice.serial,
      serialNumber: BigInt(`0x${alice.serial}`).toString(10),
      clientCN: 'alice',
      validityNotBefore: new Date(x.validFrom).toISOString(),
      validityNotAfter: new Date(x.validTo).toISOString(),
    });
  });

  it('are not added for a client this tool issued, unless CA_COMPAT_CONTEXT=python; off drops them for imported ones too', async () => {
    for (const k of COMPAT) expect((await contextOf(false)).context).not.toHaveProperty(k);
    const all = await contextOf(false, { compatContext: 'python' });
    expect(all.context).toMatchObject({ serialNumber: BigInt(`0x${alice.serial}`).toString(10), clientCN: 'alice' });
    const off = await contextOf(true, { compatContext: 'off' });
    expect(off.isAuthorized).toBe(true);
    for (const k of COMPAT) expect(off.context).not.toHaveProperty(k);
  });

  it('never appear on a denial', async () => {
    const other = await makePki({ name: 'ca-compat-foreign' });
    try {
      const r = await contextOf(true, { compatContext: 'python' }, (await other.issue('alice')).record.certificatePem);
      expect(r.isAuthorized).toBe(false);
      expect(Object.keys(r.context)).toEqual(['reason']);
    } finally {
      other.cleanup();
    }
  });

  it('are chosen with CA_COMPAT_CONTEXT, and an unknown value is a configuration error', () => {
    const base = { CA_TABLE: 't', AWS_REGION: 'us-east-1' };
    expect(readAuthorizerEnv(base).config.compatContext).toBeUndefined();
    expect(readAuthorizerEnv({ ...base, CA_COMPAT_CONTEXT: 'Python' }).config.compatContext).toBe('python');
    expect(() => readAuthorizerEnv({ ...base, CA_COMPAT_CONTEXT: 'legacy' })).toThrow(/CA_COMPAT_CONTEXT must be imported, python or off/);
  });
});
