import { describe, expect, it } from 'vitest';
import { acceptance, isStillAccepted } from '../../src/domain/acceptance.js';
import { isStillAccepted as fromCaState } from '../../src/domain/ca-state.js';
import type { CertificateRecord } from '../../src/ports.js';

const NOW = new Date('2026-06-01T12:00:00.000Z');
const base: Pick<CertificateRecord, 'status' | 'notBefore' | 'notAfter' | 'graceUntil'> = {
  status: 'active',
  notBefore: '2026-01-01T00:00:00.000Z',
  notAfter: '2027-01-01T00:00:00.000Z',
};

describe('whether a certificate is still accepted (one rule for ca status, ca list, rotation, retirement and the authorizer)', () => {
  it.each([
    ['active, inside its validity', {}, { accepted: true, reason: 'active' }],
    ['superseded, in its grace period', { status: 'superseded', graceUntil: '2026-06-02T00:00:00.000Z' }, { accepted: true, reason: 'superseded_in_grace' }],
    ['superseded, grace ended this instant', { status: 'superseded', graceUntil: NOW.toISOString() }, { accepted: false, reason: 'superseded_grace_ended' }],
    ['superseded without a grace period', { status: 'superseded' }, { accepted: false, reason: 'superseded_grace_ended' }],
    ['revoked', { status: 'revoked' }, { accepted: false, reason: 'revoked' }],
    ['retired', { status: 'retired' }, { accepted: false, reason: 'inactive' }],
    ['not yet valid', { notBefore: '2026-06-01T12:00:01.000Z' }, { accepted: false, reason: 'not_yet_valid' }],
    ['valid from this instant', { notBefore: NOW.toISOString() }, { accepted: true, reason: 'active' }],
    ['expired this instant', { notAfter: NOW.toISOString() }, { accepted: false, reason: 'expired' }],
    ['revoked and expired: the status decides first', { status: 'revoked', notAfter: '2026-01-02T00:00:00.000Z' }, { accepted: false, reason: 'revoked' }],
  ] as const)('%s', (_name, change, verdict) => {
    const r = { ...base, ...change } as CertificateRecord;
    expect(acceptance(r, NOW)).toEqual(verdict);
    expect(isStillAccepted(r, NOW)).toBe(verdict.accepted);
  });

  it('a record with a missing or garbled date accepts nothing (the CLI once counted it as accepted, the authorizer did not)', () => {
    for (const bad of [{ notAfter: 'not a date' }, { notBefore: '' }, { notAfter: undefined }, { graceUntil: 12345 as unknown as string, status: 'superseded' as const }]) {
      const r = { ...base, ...bad } as CertificateRecord;
      expect(isStillAccepted(r, NOW), JSON.stringify(bad)).toBe(false);
    }
    expect(acceptance({ ...base, notAfter: 'not a date' }, NOW)).toEqual({ accepted: false, reason: 'invalid_record' });
  });

  it('is the same function wherever it is imported from', () => {
    expect(fromCaState).toBe(isStillAccepted);
  });
});
