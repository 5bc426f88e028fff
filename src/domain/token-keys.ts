/**
 * Token signing keys and their rotation: one home for the rule every store follows.
 *
 * The rule (README, "Tokens"): a new key is published in the JWKS at `publishedAt` and signs only from
 * `activateAt = publishedAt + JWKS cache window`, the longest a verifier can go on using a JWKS fetched before the
 * key was in it: jose's createRemoteJWKSet keeps a fetched set 10 minutes and waits 30 s before re-fetching on an
 * unknown `kid`, and our JWKS response may sit in an HTTP cache for its max-age (60 s) before that: 11 min 30 s.
 * The key it replaces stops signing then and stays published until `retireAfter = successor's activateAt + the
 * longest token lifetime` (3600 s, the most CA_TOKEN_TTL_SECONDS allows, whatever an endpoint is configured with):
 * by then every token it signed has expired. `rotate` and `prune` remove such keys. The first key signs at once:
 * no verifier holds a token or a key set that could be missing it.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { AuditEvent, Clock, PublicJwk, StoreLock, TokenKeyCustody, TokenKeyEntry, TokenKeySet } from '../ports.js';
import { conflict, notFound } from './errors.js';

/** jose createRemoteJWKSet's defaults: cacheMaxAge 10 min, cooldownDuration 30 s. */
export const JOSE_JWKS_CACHE_MS = 600_000;
export const JOSE_JWKS_COOLDOWN_MS = 30_000;
/** Cache-Control max-age of the JWKS response (the discovery handler). */
export const JWKS_MAX_AGE_SECONDS = 60;
/** How long after publication a key may sign (see the rule above): 11 min 30 s. */
export const JWKS_CACHE_WINDOW_MS = JOSE_JWKS_CACHE_MS + JOSE_JWKS_COOLDOWN_MS + JWKS_MAX_AGE_SECONDS * 1000;
/** The longest access token lifetime the endpoint may be configured with (CA_TOKEN_TTL_SECONDS). */
export const MAX_TOKEN_TTL_SECONDS = 3600;

export interface RotationRules {
  cacheWindowMs: number;
  maxTokenLifetimeMs: number;
}
export const ROTATION_RULES: RotationRules = { cacheWindowMs: JWKS_CACHE_WINDOW_MS, maxTokenLifetimeMs: MAX_TOKEN_TTL_SECONDS * 1000 };

/** The RFC 7638 thumbprint (SHA-256, base64url) of a P-256 public key: its `kid`. */
export function jwkThumbprint(k: { crv: string; kty: string; x: string; y: string }): string {
  // RFC 7638 §3.2: the required members only, lexicographic order, no whitespace
  return createHash('sha256').update(JSON.stringify({ crv: k.crv, kty: k.kty, x: k.x, y: k.y })).digest('base64url');
}

/** The published JWK of a P-256 public key (DER SubjectPublicKeyInfo). @throws Error for another key type */
export function publicJwkFromSpki(spki: Uint8Array): PublicJwk {
  const jwk = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({ format: 'jwk' }) as { kty?: string; crv?: string; x?: string; y?: string };
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.x || !jwk.y) throw new Error(`a token signing key must be EC P-256, got ${jwk.kty} ${jwk.crv ?? ''}`);
  const core = { kty: 'EC' as const, crv: 'P-256' as const, x: jwk.x, y: jwk.y };
  return { ...core, kid: jwkThumbprint(core), alg: 'ES256', use: 'sig' };
}

/** The key that signs at `now`: of those whose activateAt has come, the latest to activate. */
export function signingEntry(entries: readonly TokenKeyEntry[], now: Date): TokenKeyEntry | undefined {
  const t = now.getTime();
  let best: TokenKeyEntry | undefined;
  for (const e of entries) {
    const a = Date.parse(e.activateAt);
    if (a <= t && (!best || a > Date.parse(best.activateAt))) best = e;
  }
  return best;
}

/** The published key set of these entries. */
export function jwksOf(entries: readonly TokenKeyEntry[]): { keys: PublicJwk[] } {
  return { keys: entries.map((e) => e.jwk) };
}

/** Entries whose every token has expired (retireAfter passed): what rotate and prune remove. */
export function retirable(entries: readonly TokenKeyEntry[], now: Date): TokenKeyEntry[] {
  return entries.filter((e) => e.retireAfter !== undefined && Date.parse(e.retireAfter) <= now.getTime());
}

/** What a state of the key set says about each key at `now`. */
export type TokenKeyStatus = 'pending' | 'signing' | 'retiring' | 'retired';

export function keyStatus(entries: readonly TokenKeyEntry[], e: TokenKeyEntry, now: Date): TokenKeyStatus {
  if (e.retireAfter !== undefined && Date.parse(e.retireAfter) <= now.getTime()) return 'retired';
  if (Date.parse(e.activateAt) > now.getTime()) return 'pending';
  return signingEntry(entries, now)?.kid === e.kid ? 'signing' : 'retiring';
}

/**
 * The entries after a rotation at `now` that publishes `next`: the new key activates after the cache window (at once
 * when it is the first), every earlier key not yet retiring gets its retireAfter, and the retirable ones leave.
 * @throws CaError conflict while an earlier rotation's key is still pending (it would never sign)
 */
export function planTokenRotation(entries: readonly TokenKeyEntry[], next: Omit<TokenKeyEntry, 'publishedAt' | 'activateAt' | 'retireAfter'>, now: Date, rules: RotationRules = ROTATION_RULES): { entries: TokenKeyEntry[]; added: TokenKeyEntry; removed: TokenKeyEntry[] } {
  const pending = entries.find((e) => Date.parse(e.activateAt) > now.getTime());
  if (pending) {
    throw conflict(`token key ${pending.kid} was published at ${pending.publishedAt} and starts signing at ${pending.activateAt}: a key published now would never sign`, `rotate again after ${pending.activateAt}`);
  }
  // only a set that never held a key can sign at once: any verifier may have cached an earlier set
  const first = entries.length === 0;
  const activateAt = new Date(first ? now.getTime() : now.getTime() + rules.cacheWindowMs);
  const retireAfter = new Date(activateAt.getTime() + rules.maxTokenLifetimeMs).toISOString();
  const added: TokenKeyEntry = { ...next, publishedAt: now.toISOString(), activateAt: activateAt.toISOString() };
  const removed = retirable(entries, now);
  const kept = entries.filter((e) => !removed.includes(e)).map((e) => (e.retireAfter === undefined ? { ...e, retireAfter } : e));
  return { entries: [...kept, added], added, removed };
}

/** The custody and the published set of one store's token keys. */
export interface TokenKeys {
  custody: TokenKeyCustody;
  set: TokenKeySet;
}

export interface TokenKeyDeps extends TokenKeys {
  clock: Clock;
  /** the store's lock; writes check it is still held */
  lock: Pick<StoreLock, 'assertHeld'>;
}

export interface RotateTokenKeyResult {
  dryRun: boolean;
  /** absent in a dry run (no key is made) */
  added?: TokenKeyEntry;
  /** when the new key starts signing (also in a dry run) */
  activateAt: string;
  removed: TokenKeyEntry[];
  entries: TokenKeyEntry[];
  /** keys an interrupted rotation or prune had left in custody, removed now */
  swept: string[];
  files: string[];
}

/**
 * Settles what an interrupted rotation or prune left in custody, then marks the set before this run changes keys:
 * the mark says "custody may hold keys the set does not record" until `finish` clears it, after the last change.
 * A run killed anywhere in between (a key made but not published, a set saved but its retired keys not yet removed)
 * leaves the mark, and the next run sweeps. Returns the swept references.
 */
async function beginCustodyChange(d: TokenKeyDeps, entries: readonly TokenKeyEntry[], now: Date): Promise<string[]> {
  await d.lock.assertHeld();
  const swept = (await d.set.pendingSince()) !== undefined ? await d.custody.sweep(entries.map((e) => e.keyRef)) : [];
  await d.set.markPending(now.toISOString());
  return swept;
}

/**
 * `ca token-key rotate`: a new key in custody, published with the set, signing after the cache window; keys past
 * their retireAfter removed (from the set first, then from custody, so a crash never leaves a published key without
 * its private half: a leftover key in custody is only unused, and swept by the next run, see beginCustodyChange).
 * Run under the store lock.
 * @throws CaError conflict while a rotation's key is pending
 */
export async function rotateTokenKey(d: TokenKeyDeps, o: { dryRun?: boolean; rules?: RotationRules } = {}): Promise<RotateTokenKeyResult> {
  const now = d.clock.now();
  const entries = await d.set.load();
  const probe = planTokenRotation(entries, { kid: '(new)', keyRef: '', jwk: undefined as unknown as PublicJwk }, now, o.rules);
  if (o.dryRun) return { dryRun: true, activateAt: probe.added.activateAt, removed: probe.removed, entries: probe.entries, swept: [], files: [] };
  const swept = await beginCustodyChange(d, entries, now);
  const { keyRef, jwk } = await d.custody.create();
  const plan = planTokenRotation(entries, { kid: jwk.kid, keyRef, jwk }, now, o.rules);
  await d.lock.assertHeld();
  await d.set.save(plan.entries, jwksOf(plan.entries), now.toISOString());
  for (const r of plan.removed) await d.custody.discard(r.keyRef);
  await d.set.clearPending();
  return { dryRun: false, added: plan.added, activateAt: plan.added.activateAt, removed: plan.removed, entries: plan.entries, swept, files: [d.custody.describeKey(keyRef), d.set.describe()] };
}

/** `ca token-key prune`: removes the keys past their retireAfter (see rotateTokenKey for the order). */
export async function pruneTokenKeys(d: TokenKeyDeps, o: { dryRun?: boolean } = {}): Promise<{ dryRun: boolean; removed: TokenKeyEntry[]; entries: TokenKeyEntry[]; swept: string[]; files: string[] }> {
  const now = d.clock.now();
  const entries = await d.set.load();
  const removed = retirable(entries, now);
  const kept = entries.filter((e) => !removed.includes(e));
  if (o.dryRun) return { dryRun: true, removed, entries: kept, swept: [], files: [] };
  if (!removed.length && (await d.set.pendingSince()) === undefined) return { dryRun: false, removed, entries: kept, swept: [], files: [] };
  const swept = await beginCustodyChange(d, entries, now);
  await d.lock.assertHeld();
  if (removed.length) await d.set.save(kept, jwksOf(kept), now.toISOString());
  for (const r of removed) await d.custody.discard(r.keyRef);
  await d.set.clearPending();
  return { dryRun: false, removed, entries: kept, swept, files: removed.length ? [d.set.describe()] : [] };
}

/** What `ca status` says of the token key set: a rotation or prune that did not finish (its mark is still set). */
export async function tokenKeyWarnings(set: Pick<TokenKeySet, 'pendingSince'>): Promise<string[]> {
  const since = await set.pendingSince();
  return since === undefined ? [] : [`a token key rotation or prune has not finished (begun ${since}): \`ca token-key prune\` removes the keys it may have left in custody`];
}

/**
 * The key that signs now, making the first one when the set is empty (the local gateway's first token; the Lambda
 * never creates keys). Run under the store lock when it may create.
 * @throws CaError notFound when the set is empty and `create` is false
 */
export async function currentSigningKey(d: TokenKeyDeps, o: { create: boolean }): Promise<TokenKeyEntry> {
  const entries = await d.set.load();
  const now = d.clock.now();
  const found = signingEntry(entries, now);
  if (found) return found;
  if (!o.create || entries.length) throw notFound('no token signing key is active yet', 'run `ca token-key rotate`');
  const r = await rotateTokenKey(d);
  return r.added!;
}

/**
 * What the audit trail does not yet say about the key set: a key published without its `tokenKeyAdded` event, or
 * one removed without its `tokenKeysRemoved` event, as a run killed between writing the key set and recording it
 * leaves. The next writer (`ca token-key rotate|prune`) records them, marked `repaired`.
 */
export function unrecordedTokenKeyChanges(entries: readonly TokenKeyEntry[], events: readonly AuditEvent[]): { added: string[]; removed: string[] } {
  const added = new Set<string>();
  const removed = new Set<string>();
  for (const e of events) {
    for (const kid of (e.detail?.tokenKeyAdded ?? '').split(' ').filter(Boolean)) added.add(kid);
    for (const kid of (e.detail?.tokenKeysRemoved ?? '').split(' ').filter(Boolean)) removed.add(kid);
  }
  const present = new Set(entries.map((e) => e.kid));
  return {
    added: entries.map((e) => e.kid).filter((kid) => !added.has(kid)),
    removed: [...added].filter((kid) => !present.has(kid) && !removed.has(kid)),
  };
}
