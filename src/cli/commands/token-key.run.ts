import type { Command } from 'commander';
import type { TokenKeyEntry } from '../../ports.js';
import { openIssuer } from '../../domain/issuance.js';
import { keyStatus, pruneTokenKeys, rotateTokenKey, unrecordedTokenKeyChanges, type TokenKeys } from '../../domain/token-keys.js';
import { table } from '../format.js';
import { emit, openRuntime, openTokenKeys } from '../runtime.js';

function keyJson(keys: TokenKeys, entries: TokenKeyEntry[], e: TokenKeyEntry, now: Date) {
  return { kid: e.kid, status: keyStatus(entries, e, now), publishedAt: e.publishedAt, activateAt: e.activateAt, retireAfter: e.retireAfter ?? null, key: e.keyRef ? keys.custody.describeKey(e.keyRef) : null };
}

export async function runTokenKey(verb: 'list' | 'rotate' | 'prune', o: Record<string, any>, cmd: Command): Promise<void> {
  const rt = await openRuntime(cmd, { profile: 'read' });
  const keys = await openTokenKeys(rt, cmd);
  const deps = { ...keys, clock: rt.ctx.clock, lock: rt.store.lock };
  const rows = (entries: TokenKeyEntry[]) => {
    const now = rt.ctx.clock.now();
    return entries.map((e) => keyJson(keys, entries, e, now));
  };
  const text = (entries: TokenKeyEntry[]) =>
    table(rows(entries).map((r) => ({ ...r, retireAfter: r.retireAfter ?? '' })), [['kid', 'KID'], ['status', 'STATUS'], ['activateAt', 'SIGNS FROM'], ['retireAfter', 'REMOVABLE AFTER']]);
  const swept = (r: { swept: string[] }): Record<string, string> => (r.swept.length ? { tokenKeysSwept: r.swept.map((ref) => keys.custody.describeKey(ref)).join(' ') } : {});
  const sweptLines = (refs: string[]) => (refs.length ? [`removed ${refs.length} key(s) an interrupted rotation or prune had left in custody: ${refs.map((ref) => keys.custody.describeKey(ref)).join(', ')}`] : []);
  // a run killed between writing the key set and its audit event: the next writer records what the trail lacks
  const repairTrail = async () => {
    const gaps = unrecordedTokenKeyChanges(await keys.set.load(), await rt.store.audit.read());
    if (!gaps.added.length && !gaps.removed.length) return;
    await rt.audit.record({ detail: { ...(gaps.added.length ? { tokenKeyAdded: gaps.added.join(' ') } : {}), ...(gaps.removed.length ? { tokenKeysRemoved: gaps.removed.join(' ') } : {}), repaired: 'true' } });
  };
  if (verb === 'list') {
    const entries = await keys.set.load();
    emit(rt, { jwks: keys.set.describe(), keys: rows(entries) }, () => (entries.length ? text(entries) : 'no token signing key yet: `ca token-key rotate` makes one (so does the first token request to `ca gateway`)'));
    return;
  }
  if (verb === 'rotate') {
    // local store: the CA passphrase encrypts the token key too; opening the CA key first proves it is the right one
    if (rt.config.store === 'local' && !o.dryRun) await openIssuer(rt.ctx);
    const r = o.dryRun
      ? await rotateTokenKey(deps, { dryRun: true })
      : await rt.store.lock.withLock(async () => {
          await repairTrail();
          const done = await rotateTokenKey(deps);
          // the key set is written beside the store: its change goes into the audit trail here
          await rt.audit.record({ detail: { tokenKeyAdded: done.added!.kid, activateAt: done.activateAt, tokenKeysRemoved: done.removed.map((e) => e.kid).join(' '), ...swept(done) } });
          return done;
        });
    const json = {
      dryRun: r.dryRun,
      action: 'rotated',
      kid: r.added?.kid ?? null,
      activateAt: r.activateAt,
      removed: r.removed.map((e) => e.kid),
      swept: r.swept.map((ref) => keys.custody.describeKey(ref)),
      keys: rows(r.entries).map((k) => (k.kid === '(new)' ? { ...k, key: null } : k)),
      files: r.files,
    };
    emit(rt, json, () =>
      [
        r.dryRun ? `dry run: would publish a new token key signing from ${r.activateAt}` : `Published token key ${r.added!.kid}; it signs from ${r.activateAt}`,
        ...(r.removed.length ? [`${r.dryRun ? 'would remove' : 'removed'} ${r.removed.length} key(s) whose tokens have all expired: ${r.removed.map((e) => e.kid).join(', ')}`] : []),
        ...sweptLines(r.swept),
        text(r.entries),
      ].join('\n'),
    );
    return;
  }
  const r = o.dryRun
    ? await pruneTokenKeys(deps, { dryRun: true })
    : await rt.store.lock.withLock(async () => {
        await repairTrail();
        const done = await pruneTokenKeys(deps);
        if (done.removed.length || done.swept.length) await rt.audit.record({ detail: { tokenKeysRemoved: done.removed.map((e) => e.kid).join(' '), ...swept(done) } });
        return done;
      });
  emit(rt, { dryRun: r.dryRun, removed: r.removed.map((e) => e.kid), swept: r.swept.map((ref) => keys.custody.describeKey(ref)), keys: rows(r.entries), files: r.files }, () =>
    [r.removed.length ? `${r.dryRun ? 'dry run: would remove' : 'Removed'} ${r.removed.length} token key(s): ${r.removed.map((e) => e.kid).join(', ')}` : r.swept.length ? '' : 'nothing to prune', ...sweptLines(r.swept)].filter(Boolean).join('\n'),
  );
}
