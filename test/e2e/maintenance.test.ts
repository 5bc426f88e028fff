import { describe, it, expect, beforeAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ca, expectError, fileDigest, tempDir } from '../helpers/cli.js';
import { makeCa } from '../helpers/pki.js';
import { issueClient, renew } from '../../src/domain/issuance.js';
import { revoke } from '../../src/domain/revocation.js';

/** What a scheduled maintenance job runs: `ca renew --expiring-within N`. */
describe('ca renew --expiring-within', () => {
  const dir = tempDir('ca-maint-');
  const registry = join(dir, 'pki', 'registry.json');
  beforeAll(() => {
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    for (const [id, days] of [['soon-a', '10'], ['soon-b', '20'], ['soon-c', '29'], ['later', '60'], ['long', '365']] as const) {
      const r = ca(dir, ['issue-client', id, '--days', days]);
      expect(r.code, r.stderr).toBe(0);
    }
  });

  it('--dry-run lists exactly the clients inside the window and changes nothing', () => {
    const before = fileDigest(registry);
    const r = ca(dir, ['renew', '--expiring-within', '30', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.dryRun).toBe(true);
    expect(doc.renewed.map((x: { clientId: string }) => x.clientId)).toEqual(['soon-a', 'soon-b', 'soon-c']);
    expect(fileDigest(registry)).toBe(before);
    const human = ca(dir, ['renew', '--expiring-within', '30', '--dry-run']);
    expect(human.stdout).toMatch(/^dry run: would renew 3 client certificate\(s\)/);
  });

  it('renews the clients inside the window in chunks, each with its recorded validity, and leaves the others alone', () => {
    const listBefore = ca(dir, ['list', '--json']).json();
    const serialOf = (rows: any[], id: string) => rows.find((x) => x.clientId === id && x.status === 'active').serial;
    // two clients per registry commit: three clients span two chunks
    const r = ca(dir, ['renew', '--expiring-within', '30', '--json'], { CA_REISSUE_CHUNK: '2' });
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.dryRun).toBe(false);
    expect(doc.renewed.map((x: any) => [x.clientId, x.validityDays])).toEqual([['soon-a', 10], ['soon-b', 20], ['soon-c', 29]]);
    for (const x of doc.renewed) {
      expect(x.oldSerial).toBe(serialOf(listBefore.certificates, x.clientId));
      // the bundle holds the new certificate, judged by Node's parser
      const pem = readFileSync(join(dir, 'bundles', x.clientId, `${x.clientId}.crt`), 'utf8');
      expect(new X509Certificate(pem).serialNumber.toLowerCase().replace(/^0+/, '')).toBe(x.serial.replace(/^0+/, ''));
    }
    const after = ca(dir, ['list', '--json']).json();
    const rows = after.certificates;
    for (const id of ['later', 'long']) expect(serialOf(rows, id)).toBe(serialOf(listBefore.certificates, id));
    // renewed ones now end 10, 20, 29 days from now again: a second run inside the same window renews them again,
    // but nothing outside it
    const again = ca(dir, ['renew', '--expiring-within', '5', '--json']).json();
    expect(again.renewed).toEqual([]);
  });

  it('refuses a window that is not a whole decimal number of days, and a client id with it', () => {
    const before = fileDigest(registry);
    for (const bad of ['0x10', '1e2', '-1', 'abc', '0', '']) expectError(ca(dir, ['renew', '--expiring-within', bad]), 2, /--expiring-within must be a whole number/);
    expectError(ca(dir, ['renew', 'long', '--expiring-within', '30']), 2, /not both/);
    expectError(ca(dir, ['renew']), 2, /--expiring-within/);
    expect(fileDigest(registry)).toBe(before);
  });

  it('treats bundles as renew does: a bundle with a .p12 needs its password or --drop-p12', () => {
    const d = tempDir('ca-maint-p12-');
    expect(ca(d, ['bootstrap']).code).toBe(0);
    const p12 = { CA_P12_PASSWORD: 'p12-password-123' };
    const issued = ca(d, ['issue-client', 'boxed', '--days', '7', '--p12'], p12);
    expect(issued.code, issued.stderr).toBe(0);
    const before = fileDigest(join(d, 'pki', 'registry.json'));
    expectError(ca(d, ['renew', '--expiring-within', '30']), 2, /hold a \.p12/);
    expect(fileDigest(join(d, 'pki', 'registry.json'))).toBe(before);
    const r = ca(d, ['renew', '--expiring-within', '30', '--json'], p12);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().renewed[0].files.some((f: string) => f.endsWith('boxed.p12'))).toBe(true);
  });
});

describe('an internal error with --json', () => {
  it('prints one {"error": …} document of the error schema, code internal, exit 1, and no stack', () => {
    const d = tempDir('ca-internal-');
    expect(ca(d, ['bootstrap']).code).toBe(0);
    for (const id of ['a', 'b']) expect(ca(d, ['issue-client', id]).code).toBe(0);
    // A registry hand-edited into records the code never writes (client ids that are numbers): listing sorts by
    // client id and fails with a TypeError, a real internal error rather than a typed one.
    const path = join(d, 'pki', 'registry.json');
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    for (const r of doc.records) if (r.kind === 'client') r.clientId = 7;
    writeFileSync(path, JSON.stringify(doc));
    const r = ca(d, ['list', '--json']);
    expect(r.code, r.stderr).toBe(1);
    const out = r.json();
    expect(out.error).toMatchObject({ code: 'internal', exitCode: 1, hint: expect.stringMatching(/looks like a bug/) });
    expect(out.error.message).toMatch(/localeCompare/);
    expect(r.stdout).not.toMatch(/\bat .+:\d+:\d+/);
    expect(r.stderr.trim().split('\n')).toHaveLength(2);
    // without --json stdout stays empty
    expect(ca(d, ['list']).stdout).toBe('');
  });
});

describe('ca status --check on a CA certificate near its end', () => {
  it('exits 7 naming the issuing intermediate that ends within the window with no successor', () => {
    const d = tempDir('ca-succ-');
    expect(ca(d, ['bootstrap', '--intermediate-days', '20']).code).toBe(0);
    const r = ca(d, ['status', '--check', '--warn-days', '30', '--json']);
    expect(r.code, r.stderr).toBe(7);
    expect(r.json().warnings).toEqual([expect.stringMatching(/^the issuing intermediate .* expires in 1?\d days .* and has no successor: run `ca rotate-intermediate`$/)]);
    expect(r.stderr).toMatch(/^error: 1 warning\(s\): the issuing intermediate/);
    expect(ca(d, ['status', '--check', '--warn-days', '10']).code).toBe(0);
  });
});

describe('ca compact and ca list --all: retention on the local store', () => {
  const HOUR = 3600_000;
  const DAY = 24 * HOUR;
  let dir: string;
  let storeDir: string;
  let registry: string;
  let superseded: string;
  let revoked: string;
  beforeAll(async () => {
    // the history is made by the domain at fixed instants in the past (the real binary has no clock to set):
    // alice renewed 390 days ago (her first certificate's grace ended 383 days ago), bob revoked and ended 370 days
    // ago, carol's active certificate expired a year ago, erin's is current
    const past = new Date(Math.floor((Date.now() - 400 * DAY) / 1000) * 1000);
    const at = (ms: number) => new Date(past.getTime() + ms);
    const pki = await makeCa({ at: past });
    dir = pki.dir;
    storeDir = pki.storeDir;
    registry = join(storeDir, 'registry.json');
    await pki.store.lock.withLock(async () => {
      for (const id of ['alice', 'bob', 'carol']) await issueClient(pki.ctx(at(HOUR)), { clientId: id, validityDays: 30 });
      superseded = (await pki.store.registry.list({ clientId: 'alice' }))[0]!.serial;
      revoked = (await pki.store.registry.list({ clientId: 'bob' }))[0]!.serial;
      await renew(pki.ctx(at(10 * DAY)), { clientId: 'alice' });
      await revoke(pki.ctx(at(2 * DAY)), { clientId: 'bob' });
      await issueClient(pki.ctx(new Date(Date.now() - HOUR)), { clientId: 'erin' });
    });
  });
  const cli = (args: string[], env: Record<string, string> = {}) => ca(dir, ['--dir', storeDir, ...args], env);

  it('--dry-run says what is past the retention period and changes nothing', () => {
    const before = fileDigest(registry);
    const listed = cli(['list', '--all', '--json']).json();
    expect(listed.cleanedUp).toEqual({ method: 'archive', retentionDays: 90, archived: 0, awaitingCleanup: 2, archive: join(storeDir, 'registry-archive.jsonl') });
    const r = cli(['compact', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc).toMatchObject({ dryRun: true, retentionDays: 90, method: 'archive', files: [] });
    expect(doc.cleaned.map((x: any) => [x.clientId, x.serial, x.status])).toEqual([['alice', superseded, 'expired'], ['bob', revoked, 'revoked']]);
    expect(fileDigest(registry)).toBe(before);
    // a longer retention (flag, or the variable) keeps them
    expect(cli(['compact', '--dry-run', '--json', '--retention-days', '3650']).json().cleaned).toEqual([]);
    expect(cli(['compact', '--dry-run', '--json'], { CA_RETENTION_DAYS: '3650' }).json().cleaned).toEqual([]);
    for (const bad of ['abc', '0', '1e2', '0x10']) expectError(cli(['compact', '--retention-days', bad]), 2, /--retention-days must be a whole number/);
  });

  it('moves them into the archive; a second run finds nothing; ca list --all shows them marked and counted', () => {
    const r = cli(['compact', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.cleaned.map((x: any) => x.serial)).toEqual([superseded, revoked]);
    expect(doc.files).toEqual([join(storeDir, 'registry-archive.jsonl'), registry]);
    expect(readFileSync(registry, 'utf8')).not.toContain(superseded);
    expect(readFileSync(registry, 'utf8')).not.toContain(revoked);
    // the move is one audit event naming the records it took out of the registry; the chain stays whole
    const trail = cli(['audit', '--json']).json().events;
    expect(trail.at(-1)).toMatchObject({ operation: 'compact', change: 'other', serials: [superseded, revoked], detail: { archived: '2' } });
    expect(cli(['audit', 'verify']).code).toBe(0);
    const again = cli(['compact', '--json']).json();
    expect(again.cleaned).toEqual([]);
    expect(cli(['audit', '--json']).json().events).toHaveLength(trail.length);
    expect(again.files).toEqual([]);

    const all = cli(['list', '--all', '--json']).json();
    expect(all.cleanedUp).toMatchObject({ method: 'archive', archived: 2, awaitingCleanup: 0 });
    const archived = all.certificates.filter((c: any) => c.archivedAt);
    expect(archived.map((c: any) => c.serial).sort()).toEqual([superseded, revoked].sort());
    // the rest is unchanged: carol's expired but active certificate stays her current record
    expect(all.certificates.filter((c: any) => !c.archivedAt).map((c: any) => [c.clientId, c.status]).sort()).toEqual([
      ['alice', 'expired'],
      ['carol', 'expired'],
      ['erin', 'active'],
    ]);
    const human = cli(['list', '--all']);
    expect(human.stdout).toMatch(/^bob +revoked \(archived\) /m);
    expect(human.stdout).toMatch(/^cleaned up: 2 record\(s\) past the retention period of 90 days, moved to .*registry-archive\.jsonl \(marked archived\)$/m);
    // without --all nothing archived is listed, nor the clean-up
    const current = cli(['list', '--json']).json();
    expect(current.cleanedUp).toBeUndefined();
    expect(current.certificates.some((c: any) => c.archivedAt)).toBe(false);
  });
});
