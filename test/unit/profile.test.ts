import { describe, it, expect, afterAll } from 'vitest';
import { loadCaState } from '../../src/domain/ca-state.js';
import { loadProfile, reconcileProfile, recordedProfile } from '../../src/domain/profile.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import { cleanupAll, expectCaError, makeCa } from '../helpers/pki.js';

afterAll(cleanupAll);

describe('the CA profile recorded at bootstrap', () => {
  it('bootstrap records the whole profile on the root', async () => {
    const ca = await makeCa({ policy: { organization: 'Acme Corp', caName: 'Acme', caKeyType: 'ec-p384', graceDays: 3, spiffeTrustDomain: 'acme.test' } });
    const { root } = await loadCaState(ca.store.registry);
    expect(root!.profile).toEqual({ ...DEFAULT_POLICY, organization: 'Acme Corp', caName: 'Acme', caKeyType: 'ec-p384', graceDays: 3, spiffeTrustDomain: 'acme.test' });
  });

  it('a CA bootstrapped before profiles were recorded: what its root shows is kept, the rest taken from the run and recorded once', async () => {
    const ca = await makeCa({ policy: { organization: 'Old Org', caName: 'Old', caKeyType: 'rsa-2048' } });
    const { root } = await loadCaState(ca.store.registry);
    // an older store: the root record has no profile
    const { profile: _p, ...legacy } = root!;
    await ca.store.registry.commit([{ op: 'update', expect: 'active', record: legacy }], { atomic: true });
    const legacyRoot = (await loadCaState(ca.store.registry)).root!;
    expect(legacyRoot.profile).toBeUndefined();
    expect(recordedProfile(legacyRoot)).toEqual({ organization: 'Old Org', caName: 'Old', caKeyType: 'rsa-2048' });
    // what the certificate shows cannot be contradicted; unrecorded settings come from this run
    await expectCaError(loadProfile(ca.store.registry, { organization: { value: 'Example Org', source: 'CA_ORGANIZATION' } }), 'conflict', /organization is "Example Org" here/);
    const r = await loadProfile(ca.store.registry, { graceDays: { value: 14, source: 'CA_GRACE_DAYS' } }, { record: true });
    expect(r.profile).toMatchObject({ organization: 'Old Org', caName: 'Old', caKeyType: 'rsa-2048', graceDays: 14, clientValidityDays: 365 });
    expect((await loadCaState(ca.store.registry)).root!.profile).toEqual(r.profile);
    // now recorded: the same setting with another value is refused
    await expectCaError(loadProfile(ca.store.registry, { graceDays: { value: 7, source: '--grace-days' } }), 'conflict', /grace period is 7 here \(--grace-days\) but this CA's recorded profile has 14/);
  });

  it('a trust domain the CA was made without is a disagreement too; --update-profile records it, and can remove it again', () => {
    const recorded = { ...DEFAULT_POLICY };
    expect(() => reconcileProfile(recorded, { spiffeTrustDomain: { value: 'x.test', source: 'CA_SPIFFE_TRUST_DOMAIN' } })).toThrow(/SPIFFE trust domain is "x.test" here \(CA_SPIFFE_TRUST_DOMAIN\) but this CA's recorded profile has none/);
    const up = reconcileProfile(recorded, { spiffeTrustDomain: { value: 'x.test', source: 'CA_SPIFFE_TRUST_DOMAIN' } }, { update: true });
    expect(up.profile.spiffeTrustDomain).toBe('x.test');
    expect(up.changes).toEqual([{ key: 'spiffeTrustDomain', from: undefined, to: 'x.test', source: 'CA_SPIFFE_TRUST_DOMAIN' }]);
    // read-only commands keep the recorded profile silently
    expect(reconcileProfile(recorded, { organization: { value: 'Other', source: '--org' } }, { keep: true }).profile.organization).toBe('Example Org');
  });
});
