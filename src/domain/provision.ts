import type { CertificateRecord, KeyType, RegistryChange } from '../ports.js';
import { requireCa } from './ca-state.js';
import type { OperationContext } from './context.js';
import { invalidInput } from './errors.js';
import { validateClientId } from './ids.js';
import { openIssuer, preflightDelivery, recoverBundles, signClients, stageRecordPublish } from './issuance.js';
import { parseKeyType } from './keys.js';
import { atomicChunks } from './registry-rules.js';
import { validateDays } from './policy.js';
import type { CheckedCsr } from './csr.js';
import { grantsOf, validateAudiences, validateScopes } from './scopes.js';
import { changeGrants } from './client-grants.js';

/** One entry of a provisioning file, after the CLI resolved any CSR path to its checked content. */
export interface ProvisionEntry {
  clientId: string;
  keyType?: KeyType;
  validityDays?: number;
  csr?: CheckedCsr;
  scopes?: string[];
  audiences?: string[];
}

export interface ProvisionPlan {
  issue: ProvisionEntry[];
  skip: { clientId: string; serial: string }[];
  prune: CertificateRecord[];
}

export interface ProvisionResult {
  dryRun: boolean;
  /** `record` is absent in a dry run */
  issued: { clientId: string; serial: string; delivered: string[]; record?: CertificateRecord }[];
  skipped: { clientId: string; serial: string; record?: CertificateRecord }[];
  pruned: { clientId: string; serial: string; record?: CertificateRecord }[];
  /** listed clients that had a certificate, whose scopes or audiences the file changed (or would change) */
  grantsChanged: string[];
}

/**
 * Most clients signed, staged and recorded together (see provision): a multiple of 49, the new clients that fill
 * one 100-action DynamoDB transaction (a certificate and its client's index, 2 actions each) beside its audit
 * event (2 actions), so chunking never adds a half-empty request.
 */
export const PROVISION_CHUNK = 980;
const PER_TRANSACTION = 49;

/**
 * The chunk for `n` new clients: about a tenth of them, so that progress is reported about ten times, a multiple
 * of 49 (see PROVISION_CHUNK), from 98 (enough for worker threads to pay off) to PROVISION_CHUNK.
 */
export function provisionChunk(n: number): number {
  return Math.min(PROVISION_CHUNK, Math.max(2 * PER_TRANSACTION, Math.ceil(n / 10 / PER_TRANSACTION) * PER_TRANSACTION));
}

/**
 * Raw entry as written in the file:
 * `{"client_id": "...", "csr": "path", "key_type": "...", "validity_days": n, "scopes": ["..."], "audiences": ["..."]}`.
 */
export interface ProvisionFileEntry {
  client_id?: unknown;
  csr?: unknown;
  key_type?: unknown;
  validity_days?: unknown;
  scopes?: unknown;
  audiences?: unknown;
}

/**
 * Validates a provisioning document (`{"clients":[...]}`): ids valid and unique, known fields only.
 * `loadCsr` resolves a CSR path (the CLI reads the file; the domain never touches the file system).
 */
export function parseProvisionFile(doc: unknown, loadCsr: (path: string) => CheckedCsr): ProvisionEntry[] {
  const clients = (doc as { clients?: unknown })?.clients;
  if (!Array.isArray(clients)) throw invalidInput('provisioning file must be {"clients": [{"client_id": "..."}, ...]}');
  const seen = new Set<string>();
  return clients.map((raw: ProvisionFileEntry, i) => {
    if (typeof raw !== 'object' || raw === null) throw invalidInput(`clients[${i}] is not an object`);
    const unknown = Object.keys(raw).filter((k) => !['client_id', 'csr', 'key_type', 'validity_days', 'scopes', 'audiences'].includes(k));
    if (unknown.length) throw invalidInput(`clients[${i}] has unknown field ${unknown[0]}`, 'fields: client_id, csr, key_type, validity_days, scopes, audiences');
    let clientId: string;
    try {
      clientId = validateClientId(raw.client_id);
    } catch (e) {
      throw invalidInput(`clients[${i}]: ${(e as Error).message}`);
    }
    if (seen.has(clientId)) throw invalidInput(`clients[${i}]: client ${clientId} is listed twice`);
    seen.add(clientId);
    const entry: ProvisionEntry = { clientId };
    if (raw.key_type !== undefined) entry.keyType = parseKeyType(String(raw.key_type));
    if (raw.validity_days !== undefined) entry.validityDays = validateDays(`clients[${i}].validity_days`, Number(raw.validity_days));
    for (const f of ['scopes', 'audiences'] as const) {
      const v = raw[f];
      if (v === undefined) continue;
      if (!Array.isArray(v)) throw invalidInput(`clients[${i}].${f} must be a list of strings`, `"${f}": ["${f === 'scopes' ? 'orders:read' : 'https://api.example.com'}"]`);
      const list = f === 'scopes' ? validateScopes(`clients[${i}].scopes`, v) : validateAudiences(`clients[${i}].audiences`, v);
      // an empty list is kept: it says "none" (for a client that exists, provisioning then clears them)
      entry[f] = list;
    }
    if (raw.csr !== undefined) {
      if (typeof raw.csr !== 'string') throw invalidInput(`clients[${i}].csr must be a file path`);
      try {
        entry.csr = loadCsr(raw.csr);
      } catch (e) {
        throw invalidInput(`clients[${i}] (${clientId}): ${(e as Error).message}`);
      }
    }
    return entry;
  });
}

/** Which listed clients need a certificate, which have one, and (with prune) which active ones are no longer listed. */
export function planProvision(entries: ProvisionEntry[], active: CertificateRecord[], prune: boolean): ProvisionPlan {
  const byId = new Map(active.map((r) => [r.clientId, r]));
  const listed = new Set(entries.map((e) => e.clientId));
  return {
    issue: entries.filter((e) => !byId.has(e.clientId)),
    skip: entries.filter((e) => byId.has(e.clientId)).map((e) => ({ clientId: e.clientId, serial: byId.get(e.clientId)!.serial })),
    prune: prune ? active.filter((r) => !listed.has(r.clientId)).sort((a, b) => a.clientId.localeCompare(b.clientId)) : [],
  };
}

/**
 * Declarative provisioning: issues for listed ids without an active certificate, skips the rest, and with
 * `prune` revokes active ids no longer listed. Bundles are staged, recorded, then put in place, so a re-run
 * after a crash issues exactly what is still missing and a failed run leaves no bundle the registry lacks.
 */
export async function provision(ctx: OperationContext, entries: ProvisionEntry[], o: { prune?: boolean; dryRun?: boolean; /** clients per chunk (tests) */ chunkSize?: number } = {}): Promise<ProvisionResult> {
  await requireCa(ctx.store.registry);
  const active = await ctx.store.registry.list({ kind: 'client', status: 'active' });
  const plan = planProvision(entries, active, !!o.prune);
  const activeBySerial = new Map(active.map((r) => [r.serial, r]));
  const result: ProvisionResult = {
    dryRun: !!o.dryRun,
    issued: [],
    skipped: plan.skip.map((s) => ({ ...s, record: activeBySerial.get(s.serial) })),
    pruned: plan.prune.map((r) => ({ clientId: r.clientId, serial: r.serial, record: r })),
    grantsChanged: [],
  };
  // a listed client that has a certificate gets the scopes and audiences the file lists (a field left out: kept)
  const byId = new Map(entries.map((e) => [e.clientId, e]));
  const same = (a: readonly string[] | undefined, b: readonly string[]) => (a ?? []).length === b.length && b.every((x, i) => (a ?? [])[i] === x);
  const regrant = result.skipped.filter((k) => {
    const e = byId.get(k.clientId)!;
    return (['scopes', 'audiences'] as const).some((f) => e[f] !== undefined && !same(k.record?.[f], e[f]!));
  });
  result.grantsChanged = regrant.map((k) => k.clientId);
  if (!o.dryRun) {
    for (const k of regrant) {
      const e = byId.get(k.clientId)!;
      for (const field of ['scopes', 'audiences'] as const) {
        if (e[field] === undefined) continue;
        const r = await changeGrants(ctx, { clientId: k.clientId, field, edit: { set: e[field]! } });
        k.record = r.records.find((x) => x.serial === k.serial) ?? k.record;
      }
    }
  }
  if (o.dryRun) {
    result.issued = plan.issue.map((e) => ({ clientId: e.clientId, serial: '', delivered: [] }));
    return result;
  }
  // what an interrupted run staged is settled first, also when everything listed is recorded already
  await recoverBundles(ctx);
  if (plan.issue.length) {
    const issuer = await openIssuer(ctx);
    await preflightDelivery(ctx);
    ctx.progress?.(0, plan.issue.length);
    // a test's small chunk (CA_REISSUE_CHUNK, see src/cli/runtime.ts) makes a crash land between chunks
    const chunkSize = o.chunkSize ?? ctx.chunkSize ?? provisionChunk(plan.issue.length);
    const sign = (i: number) => {
      const chunk = plan.issue.slice(i, i + chunkSize);
      const signing = signClients(
        ctx,
        issuer,
        chunk.map((e) =>
          e.csr
            ? { clientId: e.clientId, keyType: e.csr.keyType, keyOrigin: 'csr' as const, publicKeySpki: e.csr.publicKeySpki, validityDays: e.validityDays, ...grantsOf(e) }
            : { clientId: e.clientId, keyType: e.keyType ?? ctx.policy.clientKeyType, keyOrigin: 'generated' as const, validityDays: e.validityDays, ...grantsOf(e) },
        ),
      );
      // awaited in the next round; a failure there (or here, before) must not go unhandled meanwhile
      signing.catch(() => undefined);
      return signing;
    };
    // As a rotation does: a chunk is signed (on the pool's threads when there is one) while the one before is
    // staged, recorded and published (stageRecordPublish). Signing has no effect outside this process, so a
    // crash leaves every chunk before it complete and the rest unrecorded: a re-run issues exactly what is missing.
    let signing = sign(0);
    for (let i = 0; i < plan.issue.length; i += chunkSize) {
      const signed = await signing;
      if (i + chunkSize < plan.issue.length) signing = sign(i + chunkSize);
      // the chunk staged at once, its certificates recorded in one commit (each client's on its own), then put in place
      const delivered = await stageRecordPublish(
        ctx,
        signed.map((s) => s.bundle),
        () => ctx.store.registry.commit(signed.map((s) => ({ op: 'create', record: s.record }))),
      );
      for (const [k, issued] of signed.entries()) result.issued.push({ clientId: issued.record.clientId, serial: issued.record.serial, delivered: delivered[k]!, record: issued.record });
      ctx.progress?.(Math.min(i + chunkSize, plan.issue.length), plan.issue.length);
    }
  }
  if (plan.prune.length) {
    const at = ctx.clock.now().toISOString();
    const changes: RegistryChange[] = plan.prune.map((r) => ({
      op: 'update',
      expect: 'active',
      record: { ...r, status: 'revoked', revokedAt: at, revocationReason: 'cessationOfOperation' },
    }));
    // each prune stands alone: as many commits as the registry's limits need, a re-run prunes what is left
    for (const chunk of atomicChunks(changes, ctx.store.registry.limits)) await ctx.store.registry.commit(chunk, { atomic: true });
    result.pruned = changes.map((c) => ({ clientId: c.record.clientId, serial: c.record.serial, record: c.record }));
  }
  return result;
}
