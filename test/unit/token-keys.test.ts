import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { calculateJwkThumbprint } from 'jose';
import type { PublicJwk, TokenKeyCustody, TokenKeyEntry, TokenKeySet } from '../../src/ports.js';
import { fixedClock } from '../../src/domain/context.js';
import {
  JWKS_CACHE_WINDOW_MS,
  keyStatus,
  MAX_TOKEN_TTL_SECONDS,
  planTokenRotation,
  publicJwkFromSpki,
  pruneTokenKeys,
  rotateTokenKey,
  signingEntry,
} from '../../src/domain/token-keys.js';
import { expectCaError } from '../helpers/pki.js';

const T0 = new Date('2026-03-01T12:00:00.000Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const MIN = 60_000;

function jwk(): PublicJwk {
  return publicJwkFromSpki(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ format: 'der', type: 'spki' }));
}

/** An in-memory custody and set: the rule under test is the domain's, the adapters have their own tests. */
function memory() {
  const saved: TokenKeyEntry[][] = [];
  let entries: TokenKeyEntry[] = [];
  const discarded: string[] = [];
  /** the keys custody holds */
  const held = new Set<string>();
  const sweeps: string[][] = [];
  let pending: string | undefined;
  let n = 0;
  const custody: TokenKeyCustody = {
    kind: 'memory',
    create: async () => {
      const keyRef = `k${++n}`;
      held.add(keyRef);
      return { keyRef, jwk: jwk() };
    },
    signer: async () => {
      throw new Error('not used');
    },
    discard: async (ref) => {
      held.delete(ref);
      discarded.push(ref);
    },
    sweep: async (recorded) => {
      const gone = [...held].filter((k) => !recorded.includes(k));
      for (const k of gone) held.delete(k);
      sweeps.push(gone);
      return gone;
    },
    describeKey: (ref) => ref,
  };
  const set: TokenKeySet = {
    load: async () => entries,
    save: async (e) => {
      entries = e;
      saved.push(e);
    },
    pendingSince: async () => pending,
    markPending: async (at) => void (pending = at),
    clearPending: async () => void (pending = undefined),
    describe: () => 'memory',
  };
  const lock = { assertHeld: async () => undefined };
  return { custody, set, discarded, saved, held, sweeps, pending: () => pending, deps: (t: Date) => ({ custody, set, clock: fixedClock(t), lock }) };
}

describe('the token key rotation rule (fixed clock)', () => {
  it('the window is jose\'s 10 min cache + 30 s cooldown + the JWKS max-age of 60 s; tokens live at most 3600 s', () => {
    expect(JWKS_CACHE_WINDOW_MS).toBe(11 * MIN + 30_000);
    expect(MAX_TOKEN_TTL_SECONDS).toBe(3600);
  });

  it('kid is the RFC 7638 thumbprint, as jose computes it', async () => {
    const k = jwk();
    expect(k.kid).toBe(await calculateJwkThumbprint({ kty: k.kty, crv: k.crv, x: k.x, y: k.y }, 'sha256'));
    expect(k).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
  });

  it('first key signs at once; a rotation publishes first, signs after the window, and the old key stays until its last token expired', async () => {
    const m = memory();
    const first = await rotateTokenKey(m.deps(T0));
    expect(first.added!.activateAt).toBe(T0.toISOString());
    expect(signingEntry(await m.set.load(), T0)?.kid).toBe(first.added!.kid);

    const r = await rotateTokenKey(m.deps(at(30 * MIN)));
    const next = r.added!;
    expect(next.publishedAt).toBe(at(30 * MIN).toISOString());
    expect(next.activateAt).toBe(at(30 * MIN + JWKS_CACHE_WINDOW_MS).toISOString());
    const old = r.entries.find((e) => e.kid === first.added!.kid)!;
    expect(old.retireAfter).toBe(at(30 * MIN + JWKS_CACHE_WINDOW_MS + 3600_000).toISOString());
    // both published from the rotation on
    expect(m.saved.at(-1)!.map((e) => e.kid)).toEqual([first.added!.kid, next.kid]);
    // the old key signs until the new one's activateAt (exclusive), the new one from then on
    expect(signingEntry(r.entries, at(30 * MIN + JWKS_CACHE_WINDOW_MS - 1))?.kid).toBe(old.kid);
    expect(signingEntry(r.entries, at(30 * MIN + JWKS_CACHE_WINDOW_MS))?.kid).toBe(next.kid);
    expect(keyStatus(r.entries, next, at(31 * MIN))).toBe('pending');
    expect(keyStatus(r.entries, old, at(50 * MIN))).toBe('retiring');
    expect(keyStatus(r.entries, old, new Date(old.retireAfter!))).toBe('retired');

    // a rotation while the new key is pending would publish a key that never signs: refused, nothing written
    const writes = m.saved.length;
    await expectCaError(rotateTokenKey(m.deps(at(31 * MIN))), 'conflict', /starts signing at/);
    expect(m.saved.length).toBe(writes);

    // prune before retireAfter: nothing; at retireAfter: the old key leaves the set, then custody
    expect((await pruneTokenKeys(m.deps(new Date(Date.parse(old.retireAfter!) - 1)))).removed).toEqual([]);
    const pruned = await pruneTokenKeys(m.deps(new Date(old.retireAfter!)));
    expect(pruned.removed.map((e) => e.kid)).toEqual([old.kid]);
    expect((await m.set.load()).map((e) => e.kid)).toEqual([next.kid]);
    expect(m.discarded).toEqual([old.keyRef]);
  });

  it('a rotation removes the keys past their retireAfter; a dry run changes nothing', () => {
    const e1: TokenKeyEntry = { kid: 'a', keyRef: 'a', publishedAt: T0.toISOString(), activateAt: T0.toISOString(), retireAfter: at(10 * MIN).toISOString(), jwk: jwk() };
    const e2: TokenKeyEntry = { kid: 'b', keyRef: 'b', publishedAt: T0.toISOString(), activateAt: at(5 * MIN).toISOString(), jwk: jwk() };
    const p = planTokenRotation([e1, e2], { kid: 'c', keyRef: 'c', jwk: jwk() }, at(2 * 3600_000));
    expect(p.removed.map((e) => e.kid)).toEqual(['a']);
    expect(p.entries.map((e) => [e.kid, e.retireAfter])).toEqual([
      ['b', at(2 * 3600_000 + JWKS_CACHE_WINDOW_MS + 3600_000).toISOString()],
      ['c', undefined],
    ]);
  });
});

describe('a token key rotation or prune interrupted while it changes keys', () => {
  it('a rotation that fails after making its key leaves the set as it was and its mark; the next rotation sweeps that key, publishes its own and clears the mark', async () => {
    const m = memory();
    await rotateTokenKey(m.deps(T0));
    expect(m.pending()).toBeUndefined();
    expect(m.sweeps).toEqual([]);
    const published = [...m.held];
    // the key set's write fails (or the process dies) after the new key was made
    const save = m.set.save;
    m.set.save = async () => Promise.reject(new Error('write failed'));
    await expect(rotateTokenKey(m.deps(at(30 * MIN)))).rejects.toThrow('write failed');
    m.set.save = save;
    expect((await m.set.load()).map((e) => e.keyRef)).toEqual(published);
    expect(m.held.size).toBe(2);
    expect(m.pending()).toBe(at(30 * MIN).toISOString());
    const r = await rotateTokenKey(m.deps(at(31 * MIN)));
    expect(r.swept).toEqual(['k2']);
    expect([...m.held].sort()).toEqual(r.entries.map((e) => e.keyRef).sort());
    expect(m.pending()).toBeUndefined();
  });

  it('a run that saved the set but died before removing its retired key from custody: the next run removes it', async () => {
    const m = memory();
    await rotateTokenKey(m.deps(T0));
    const second = await rotateTokenKey(m.deps(at(30 * MIN)));
    const old = second.entries[0]!;
    const discard = m.custody.discard;
    m.custody.discard = async () => Promise.reject(new Error('killed'));
    await expect(pruneTokenKeys(m.deps(new Date(old.retireAfter!)))).rejects.toThrow('killed');
    m.custody.discard = discard;
    // the set no longer lists the old key; custody still holds it, and the mark says so
    expect((await m.set.load()).map((e) => e.kid)).toEqual([second.added!.kid]);
    expect(m.held.has(old.keyRef)).toBe(true);
    const again = await pruneTokenKeys(m.deps(new Date(Date.parse(old.retireAfter!) + MIN)));
    expect(again.removed).toEqual([]);
    expect(again.swept).toEqual([old.keyRef]);
    expect([...m.held]).toEqual([second.added!.keyRef]);
    expect(m.pending()).toBeUndefined();
  });

  it('without a mark, neither rotate nor prune lists custody (a sweep may list every key of a KMS account)', async () => {
    const m = memory();
    const r = await rotateTokenKey(m.deps(T0));
    await pruneTokenKeys(m.deps(at(MIN)));
    await rotateTokenKey(m.deps(at(30 * MIN)));
    expect(m.sweeps).toEqual([]);
    expect(r.swept).toEqual([]);
  });
});
