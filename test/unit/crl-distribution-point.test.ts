/**
 * The optional CRL distribution point of client certificates (RFC 5280 4.2.1.13): off by default, rendered by the
 * one builder from the CA profile's setting, recorded with each certificate so that renew and rotation keep it
 * (with `{issuer}` expanded for the intermediate that signs). Certificates are read back with OpenSSL.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { WorkerSigningPool } from '../../src/adapters/threads/signing-pool.js';
import { issueClient, openIssuer, renew, signClients } from '../../src/domain/issuance.js';
import { rotateIntermediate } from '../../src/domain/hierarchy.js';
import { reconcileProfile } from '../../src/domain/profile.js';
import { summarize } from '../../src/domain/reporting.js';
import type { CertificateRecord } from '../../src/ports.js';
import { DAY, after, caState, cleanupAll, expectCaErrorSync, makeCa, opensslOk, type TestCa } from '../helpers/pki.js';

const pool = new WorkerSigningPool(2);
afterAll(async () => {
  await pool.close();
  cleanupAll();
});

const HOUR = 60 * 60 * 1000;
const SETTING = 'https://pki.example.com/crl/{issuer}.crl';

/** The URIs of a certificate's CRL distribution points, as OpenSSL prints them. */
function distributionPoints(pem: string): string[] {
  const text = opensslOk(['x509', '-noout', '-text'], pem);
  const block = /X509v3 CRL Distribution Points:([\s\S]*?)(?:\n\s{12}X509v3|\n\s{4}Signature Algorithm)/.exec(text)?.[1] ?? '';
  return [...block.matchAll(/URI:(\S+)/g)].map((m) => m[1]!);
}

async function activeOf(ca: TestCa, id: string): Promise<CertificateRecord> {
  return (await ca.store.registry.list({ clientId: id, status: 'active' }))[0]!;
}

describe('the CRL distribution point of client certificates', () => {
  it('is off by default: no extension', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'plain' });
    const r = await activeOf(ca, 'plain');
    expect(distributionPoints(r.certificatePem)).toEqual([]);
    expect(opensslOk(['x509', '-noout', '-text'], r.certificatePem)).not.toMatch(/CRL Distribution/);
    expect(r.crlDistributionPoint).toBeUndefined();
  });

  it('with the profile setting, names the issuing intermediate\'s CRL; renew and rotation keep it, expanded for the new issuer', async () => {
    const ca = await makeCa({ policy: { crlDistributionPoint: SETTING } });
    const g1 = (await caState(ca)).issuing!;
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'acme' });
    const first = await activeOf(ca, 'acme');
    expect(distributionPoints(first.certificatePem)).toEqual([`https://pki.example.com/crl/${g1.serial}.crl`]);
    expect(first.crlDistributionPoint).toBe(SETTING);
    expect(summarize(first, after(HOUR)).crlDistributionPoint).toBe(`https://pki.example.com/crl/${g1.serial}.crl`);
    // openssl accepts the certificate as before
    opensslOk(['verify', '-x509_strict', '-attime', String(Math.floor(after(2 * HOUR).getTime() / 1000)), '-CAfile', ca.store.truststorePath], first.certificatePem);

    // renew under a run whose settings no longer name it: the certificate's own setting is kept
    await renew(ca.ctx(after(2 * HOUR), { crlDistributionPoint: undefined }), { clientId: 'acme' });
    const renewed = await activeOf(ca, 'acme');
    expect(renewed.serial).not.toBe(first.serial);
    expect(distributionPoints(renewed.certificatePem)).toEqual([`https://pki.example.com/crl/${g1.serial}.crl`]);

    // rotation re-issues under G2: the URL now names G2's CRL
    await rotateIntermediate(ca.ctx(after(DAY), { crlDistributionPoint: undefined }));
    const g2 = (await caState(ca)).issuing!;
    expect(g2.serial).not.toBe(g1.serial);
    const rotated = await activeOf(ca, 'acme');
    expect(rotated.issuerSerial).toBe(g2.serial);
    expect(rotated.crlDistributionPoint).toBe(SETTING);
    expect(distributionPoints(rotated.certificatePem)).toEqual([`https://pki.example.com/crl/${g2.serial}.crl`]);
  });

  it('a certificate issued without one keeps none through renew, even once the profile sets one', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(after(HOUR)), { clientId: 'old' });
    await renew(ca.ctx(after(2 * HOUR), { crlDistributionPoint: SETTING }), { clientId: 'old' });
    expect(distributionPoints((await activeOf(ca, 'old')).certificatePem)).toEqual([]);
    // a new client under that profile gets it
    await issueClient(ca.ctx(after(2 * HOUR), { crlDistributionPoint: 's3://crl-bucket/crl/{issuer}.crl' }), { clientId: 'new' });
    const g1 = (await caState(ca)).issuing!;
    expect(distributionPoints((await activeOf(ca, 'new')).certificatePem)).toEqual([`s3://crl-bucket/crl/${g1.serial}.crl`]);
  });

  it('batch signing on worker threads renders it like the main thread', async () => {
    const ca = await makeCa({ policy: { crlDistributionPoint: SETTING } });
    const ctx = { ...ca.ctx(after(HOUR)), pool };
    const issuer = await openIssuer(ctx);
    const issued = await signClients(ctx, issuer, Array.from({ length: 64 }, (_, i) => ({ clientId: `c${i}`, keyType: 'ec-p256' as const, keyOrigin: 'generated' as const })));
    expect(issued).toHaveLength(64);
    for (const r of [issued[0]!, issued[63]!]) {
      expect(r.record.crlDistributionPoint).toBe(SETTING);
      expect(distributionPoints(r.record.certificatePem)).toEqual([`https://pki.example.com/crl/${issuer.state.issuing.serial}.crl`]);
    }
  });

  it('is part of the recorded CA profile: a different setting on an existing CA is refused without --update-profile', () => {
    const recorded = { organization: 'O', caName: 'N', caKeyType: 'ec-p256', clientKeyType: 'ec-p256', rootValidityDays: 3650, intermediateValidityDays: 1095, clientValidityDays: 365, graceDays: 7 } as const;
    const want = { crlDistributionPoint: { value: SETTING, source: 'CA_CRL_DISTRIBUTION_POINT' } };
    expectCaErrorSync(() => reconcileProfile(recorded, want), 'conflict', /CRL distribution point is .* \(CA_CRL_DISTRIBUTION_POINT\) but this CA's recorded profile has none/);
    const updated = reconcileProfile(recorded, want, { update: true });
    expect(updated.profile.crlDistributionPoint).toBe(SETTING);
    expect(updated.changes).toEqual([{ key: 'crlDistributionPoint', from: undefined, to: SETTING, source: 'CA_CRL_DISTRIBUTION_POINT' }]);
    // a profile without the optional setting is still complete
    expect(reconcileProfile(recorded, {}).unrecorded).toBe(false);
  });
});
