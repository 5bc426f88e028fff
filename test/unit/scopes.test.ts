import { afterAll, describe, expect, it } from 'vitest';
import { rotateIntermediate } from '../../src/domain/hierarchy.js';
import { issueClient, renew } from '../../src/domain/issuance.js';
import { parseProvisionFile, provision } from '../../src/domain/provision.js';
import { changeGrants } from '../../src/domain/client-grants.js';
import { editScopes, isScopeToken, splitList, validateAudiences, validateScopes } from '../../src/domain/scopes.js';
import { recordToItem, itemToRecord } from '../../src/adapters/aws/dynamodb-codec.js';
import { after, cleanupAll, DAY, expectCaError, expectCaErrorSync, makeCa } from '../helpers/pki.js';

afterAll(cleanupAll);

describe('scope tokens (RFC 6749 section 3.3: 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E)', () => {
  it('accepts every NQCHAR and refuses space, quote, backslash, DEL, controls and non-ASCII', () => {
    const nq = [0x21, ...Array.from({ length: 0x5b - 0x23 + 1 }, (_, i) => 0x23 + i), ...Array.from({ length: 0x7e - 0x5d + 1 }, (_, i) => 0x5d + i)];
    for (const c of nq) expect(isScopeToken(String.fromCharCode(c)), `0x${c.toString(16)}`).toBe(true);
    for (const c of [0x00, 0x09, 0x0a, 0x20, 0x22, 0x5c, 0x7f, 0xe9]) expect(isScopeToken(`a${String.fromCharCode(c)}b`), `0x${c.toString(16)}`).toBe(false);
    expect(isScopeToken('')).toBe(false);
    expect(isScopeToken('orders:read')).toBe(true);
    expect(isScopeToken('https://api.example.com/orders.read')).toBe(true);
    expect(isScopeToken('x'.repeat(129))).toBe(false);
  });

  it('validateScopes: duplicates dropped in order, a bad one an invalid input (exit 3) naming it', () => {
    expect(validateScopes('--scope', ['b', 'a', 'b'])).toEqual(['b', 'a']);
    const e = expectCaErrorSync(() => validateScopes('--scope', ['ok', 'bad scope']), 'invalidInput', /--scope: invalid scope "bad scope"/);
    expect(e.exitCode).toBe(3);
    expectCaErrorSync(() => validateScopes('x', Array.from({ length: 101 }, (_, i) => `s${i}`)), 'invalidInput', /at most 100/);
    expectCaErrorSync(() => validateAudiences('--audience', ['https://a b']), 'invalidInput', /invalid audience/);
    expect(splitList(['a,b', 'c', ' d , e'])).toEqual(['a', 'b', 'c', 'd', 'e']);
    expect(editScopes(['a', 'b'], { add: ['b', 'c'] })).toEqual(['a', 'b', 'c']);
    expect(editScopes(['a', 'b'], { remove: ['a'] })).toEqual(['b']);
    expect(editScopes(['a'], { set: [] })).toEqual([]);
  });

  it('provisioning files take "scopes" and "audiences" lists, validated', () => {
    const e = parseProvisionFile({ clients: [{ client_id: 'a', scopes: ['x', 'y'], audiences: ['https://api'] }, { client_id: 'b' }] }, () => {
      throw new Error('no csr');
    });
    expect(e).toEqual([{ clientId: 'a', scopes: ['x', 'y'], audiences: ['https://api'] }, { clientId: 'b' }]);
    expectCaErrorSync(() => parseProvisionFile({ clients: [{ client_id: 'a', scopes: 'x' }] }, () => undefined as never), 'invalidInput', /clients\[0\]\.scopes must be a list/);
    expectCaErrorSync(() => parseProvisionFile({ clients: [{ client_id: 'a', scopes: ['a b'] }] }, () => undefined as never), 'invalidInput', /clients\[0\]\.scopes: invalid scope/);
  });

  it('the DynamoDB codec stores them as JSON strings and reads them back', () => {
    const r = { serial: 'ab', kind: 'client', clientId: 'a', scopes: ['x', 'y'], audiences: ['https://api'] } as never;
    const item = recordToItem(r);
    expect(item.scopes).toEqual({ S: '["x","y"]' });
    expect(itemToRecord(item as never)).toMatchObject({ scopes: ['x', 'y'], audiences: ['https://api'] });
  });
});

describe('scopes and audiences through the certificate lifecycle', () => {
  it('are recorded at issue and carried by renew, renew --all, --replace, rekeyed rotation and provisioning', async () => {
    const ca = await makeCa();
    const grants = { scopes: ['orders:read', 'orders:write'], audiences: ['https://api.example.com'] };
    const first = await issueClient(ca.ctx(after(DAY)), { clientId: 'acme', ...grants });
    expect(first.record).toMatchObject(grants);
    const renewed = await renew(ca.ctx(after(2 * DAY)), { clientId: 'acme' });
    expect(renewed.renewed[0]!.record).toMatchObject(grants);
    const all = await renew(ca.ctx(after(3 * DAY)), { all: true });
    expect(all.renewed[0]!.record).toMatchObject(grants);
    const replaced = await issueClient(ca.ctx(after(4 * DAY)), { clientId: 'acme', replace: true });
    expect(replaced.record, 'a --replace without --scope keeps them').toMatchObject(grants);
    const rotated = await rotateIntermediate(ca.ctx(after(5 * DAY)), { rekey: true });
    expect(rotated.reissued[0]!.record).toMatchObject(grants);
    expect(rotated.reissued[0]!.rekeyed).toBe(true);
    const changed = await issueClient(ca.ctx(after(6 * DAY)), { clientId: 'acme', replace: true, scopes: ['only'] });
    expect(changed.record!.scopes).toEqual(['only']);
    expect(changed.record!.audiences).toEqual(grants.audiences);
    const p = await provision(ca.ctx(after(6 * DAY)), [{ clientId: 'batch', scopes: ['s'] }, { clientId: 'plain' }]);
    expect(p.issued.map((x) => x.record!.scopes)).toEqual([['s'], undefined]);
  });

  it('provisioning sets the listed scopes and audiences of clients that already have a certificate; a field left out is kept', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(after(DAY)), { clientId: 'acme', scopes: ['a'], audiences: ['https://x'] });
    const dry = await provision(ca.ctx(after(DAY)), [{ clientId: 'acme', scopes: ['a', 'b'] }], { dryRun: true });
    expect(dry.grantsChanged).toEqual(['acme']);
    expect((await ca.store.registry.list({ clientId: 'acme' }))[0]!.scopes).toEqual(['a']);
    const r = await provision(ca.ctx(after(DAY)), [{ clientId: 'acme', scopes: ['a', 'b'] }]);
    expect(r.grantsChanged).toEqual(['acme']);
    expect(r.skipped[0]!.record).toMatchObject({ scopes: ['a', 'b'], audiences: ['https://x'] });
    expect((await provision(ca.ctx(after(DAY)), [{ clientId: 'acme', scopes: ['a', 'b'] }])).grantsChanged, 'a re-run changes nothing').toEqual([]);
    await provision(ca.ctx(after(DAY)), [{ clientId: 'acme', scopes: [] }]);
    expect((await ca.store.registry.list({ clientId: 'acme' }))[0]!.scopes).toBeUndefined();
  });

  it('ca client scopes changes every certificate in use (the active one and one in grace), atomically, without re-issuing', async () => {
    const ca = await makeCa();
    await issueClient(ca.ctx(after(DAY)), { clientId: 'acme', scopes: ['a', 'b'] });
    const next = await renew(ca.ctx(after(2 * DAY)), { clientId: 'acme' });
    const before = (await ca.records()).filter((r) => r.kind === 'client').map((r) => r.serial).sort();
    const dry = await changeGrants(ca.ctx(after(2 * DAY)), { clientId: 'acme', field: 'scopes', edit: { remove: ['b'] }, dryRun: true });
    expect(dry).toMatchObject({ dryRun: true, before: ['a', 'b'], after: ['a'], changed: true });
    expect((await ca.store.registry.get(next.renewed[0]!.newSerial!))!.scopes).toEqual(['a', 'b']);
    const r = await changeGrants(ca.ctx(after(2 * DAY)), { clientId: 'acme', field: 'scopes', edit: { remove: ['b'] } });
    expect(r.records).toHaveLength(2);
    const clients = (await ca.records()).filter((x) => x.kind === 'client');
    expect(clients.map((x) => x.serial).sort(), 'no certificate was issued').toEqual(before);
    for (const c of clients) expect(c.scopes, c.status).toEqual(['a']);
    const again = await changeGrants(ca.ctx(after(2 * DAY)), { clientId: 'acme', field: 'scopes', edit: { remove: ['b'] } });
    expect(again.changed).toBe(false);
    await changeGrants(ca.ctx(after(2 * DAY)), { clientId: 'acme', field: 'scopes', edit: { set: [] } });
    expect((await ca.store.registry.get(next.renewed[0]!.newSerial!))!.scopes).toBeUndefined();
    await expectCaError(changeGrants(ca.ctx(after(2 * DAY)), { clientId: 'nobody', field: 'scopes', edit: { add: ['x'] } }), 'notFound');
  });
});
