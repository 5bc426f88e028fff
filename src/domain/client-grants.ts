import type { CertificateRecord, RegistryChange } from '../ports.js';
import { isStillAccepted, requireCa } from './ca-state.js';
import type { OperationContext } from './context.js';
import { notFound } from './errors.js';
import { editScopes, type ScopeEdit } from './scopes.js';

export interface ChangeGrantsOptions {
  clientId: string;
  /** which list: the scopes the token endpoint may grant, or the audiences its tokens name */
  field: 'scopes' | 'audiences';
  /** already validated (validateScopes / validateAudiences) */
  edit: ScopeEdit;
  dryRun?: boolean;
}

export interface ChangeGrantsResult {
  dryRun: boolean;
  clientId: string;
  field: 'scopes' | 'audiences';
  before: string[];
  after: string[];
  changed: boolean;
  /** every certificate of the client still accepted (active, and superseded in grace): each carries the new list */
  records: CertificateRecord[];
}

/**
 * Changes a client's scopes or audiences without re-issuing: on every certificate of the client the token endpoint
 * would still accept (the active one and those in grace), so that a removed scope is refused whichever certificate
 * the client presents. One atomic commit, each update conditional on the record's status. Idempotent.
 * @throws CaError notFound when the client has no accepted certificate
 */
export async function changeGrants(ctx: OperationContext, o: ChangeGrantsOptions): Promise<ChangeGrantsResult> {
  await requireCa(ctx.store.registry);
  const now = ctx.clock.now();
  const records = (await ctx.store.registry.list({ kind: 'client', clientId: o.clientId }))
    .filter((r) => isStillAccepted(r, now))
    .sort((a, b) => (a.status === b.status ? b.createdAt.localeCompare(a.createdAt) : a.status === 'active' ? -1 : 1));
  const current = records[0];
  if (!current) throw notFound(`client ${o.clientId} has no certificate in use`, 'see `ca list`; issue one with `ca issue-client`');
  const before = [...(current[o.field] ?? [])];
  const after = editScopes(before, o.edit);
  const updated = records.map((r) => {
    const { [o.field]: _old, ...rest } = r;
    return (after.length ? { ...rest, [o.field]: after } : rest) as CertificateRecord;
  });
  const same = (a: readonly string[] | undefined, b: readonly string[]) => (a ?? []).length === b.length && b.every((x, i) => (a ?? [])[i] === x);
  const changed = records.some((r) => !same(r[o.field], after));
  if (changed && !o.dryRun) {
    const changes: RegistryChange[] = updated.filter((_, i) => !same(records[i]![o.field], after)).map((record) => ({ op: 'update', expect: record.status, record }));
    await ctx.store.registry.commit(changes, { atomic: true });
  }
  return { dryRun: !!o.dryRun, clientId: o.clientId, field: o.field, before, after, changed, records: updated };
}
