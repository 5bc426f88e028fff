import type { Command } from 'commander';
import { usageError } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { changeGrants } from '../../domain/client-grants.js';
import { splitList, validateAudiences, validateScopes, type ScopeEdit } from '../../domain/scopes.js';
import { emit, openRuntime } from '../runtime.js';

export async function runClientGrants(field: 'scopes' | 'audiences', id: string, o: Record<string, any>, cmd: Command): Promise<void> {
  validateClientId(id);
  const given = (['set', 'add', 'remove'] as const).filter((k) => o[k] !== undefined);
  if (given.length > 1) throw usageError(`--${given[0]} and --${given[1]} exclude each other`, `run ca client ${field} once per change`);
  const validate = (what: string, v: string[]) => (field === 'scopes' ? validateScopes(what, splitList(v)) : validateAudiences(what, splitList(v)));
  const k = given[0];
  const edit: ScopeEdit | undefined = k === 'set' ? { set: validate('--set', o.set) } : k === 'add' ? { add: validate('--add', o.add) } : k === 'remove' ? { remove: validate('--remove', o.remove) } : undefined;
  const dryRun = !!o.dryRun || !edit;
  const rt = await openRuntime(cmd, { profile: 'read' });
  const run = () => changeGrants(rt.ctx, { clientId: id, field, edit: edit ?? { add: [] }, dryRun });
  const r = dryRun ? await run() : await rt.store.lock.withLock(run);
  const json = {
    dryRun: r.dryRun,
    clientId: r.clientId,
    field,
    before: r.before,
    after: r.after,
    changed: r.changed,
    serials: r.records.map((x) => x.serial),
    files: [] as string[],
  };
  emit(rt, json, () => {
    const list = (l: string[]) => (l.length ? l.join(' ') : '(none)');
    if (!edit) return `${field} of ${id}: ${list(r.after)}`;
    if (!r.changed) return `${field} of ${id} unchanged: ${list(r.after)}`;
    return `${r.dryRun ? 'dry run: would change' : 'Changed'} the ${field} of ${id} (${r.records.length} certificate(s)): ${list(r.before)} -> ${list(r.after)}`;
  });
  rt.done();
}
