/**
 * The audit trail on the local store, through the real binary: what each state-changing command records (one event
 * per atomic change, sharing the run's id), that read-only and refused commands record nothing, that no secret
 * reaches the trail, and that `ca audit verify` names the first broken event of a trail edited by hand.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import pkg from '../../package.json' with { type: 'json' };
import { PASSPHRASE, ca, expectError, fileDigest, openssl, tempDir } from '../helpers/cli.js';

type Event = {
  seq: number;
  run: string;
  operation: string;
  change: string;
  result: string;
  serials: string[];
  clientIds: string[];
  actor: string;
  version: string;
  command: string[];
  truststoreVersion?: string;
  exit?: { code: number; category: string };
};

const P12_PASSWORD = 'p12-secret-value-4711';

function events(dir: string, args: string[] = []): Event[] {
  const r = ca(dir, ['audit', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return r.json().events;
}

/** Runs a command that must succeed and returns the events it added. */
function run(dir: string, args: string[], env: Record<string, string> = {}): Event[] {
  const before = events(dir).length;
  const r = ca(dir, args, env);
  expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
  return events(dir).slice(before);
}

/** Every byte the store holds, as text: where a secret must not appear. */
function storeText(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(readFileSync(p, 'latin1'));
    }
  };
  walk(join(dir, 'pki'));
  return out.join('\n');
}

describe('the audit trail of a local store', () => {
  const dir = tempDir('ca-audit-e2e-');
  const me = `${userInfo().username}@${hostname()}`;

  beforeAll(() => {
    writeFileSync(join(dir, 'p12.pass'), `${P12_PASSWORD}\n`);
    writeFileSync(join(dir, 'ca.pass'), `${PASSPHRASE}\n`);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'partner.key'], dir);
    openssl(['req', '-new', '-key', 'partner.key', '-subj', '/CN=partner', '-out', 'partner.csr'], dir);
    writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: [{ client_id: 'f1' }, { client_id: 'f2' }, { client_id: 'f3' }] }));
  });

  it('bootstrap: the root, the intermediate and the truststore publication, one event each, one run, who and which version', () => {
    const e = run(dir, ['bootstrap']);
    expect(e.map((x) => [x.seq, x.operation, x.change, x.result])).toEqual([
      [1, 'bootstrap', 'registry', 'ok'],
      [2, 'bootstrap', 'registry', 'ok'],
      [3, 'bootstrap', 'truststore', 'ok'],
    ]);
    expect(new Set(e.map((x) => x.run)).size).toBe(1);
    for (const x of e) expect(x).toMatchObject({ actor: me, version: pkg.version, command: ['ca', 'bootstrap'] });
    expect(e[0]!.serials).toHaveLength(1);
    expect(e[2]!.truststoreVersion).toBe('1');
    const trail = join(dir, 'pki', 'audit.jsonl');
    expect(statSync(trail).mode & 0o777).toBe(0o600);
    expect(readFileSync(trail, 'utf8').trim().split('\n')).toHaveLength(3);
  });

  it('issue-client (generated key, CSR, PKCS#12): one event each, naming the client and its serial', () => {
    const a = run(dir, ['issue-client', 'acme', '--json']);
    expect(a).toHaveLength(1);
    expect(a[0]).toMatchObject({ operation: 'issue-client', change: 'registry', clientIds: ['acme'], command: ['ca', 'issue-client', 'acme', '--json'] });
    const serial = JSON.parse(readFileSync(join(dir, 'pki', 'registry.json'), 'utf8')).records.find((r: { clientId: string }) => r.clientId === 'acme').serial;
    expect(a[0]!.serials).toEqual([serial]);
    expect(run(dir, ['issue-client', 'partner', '--csr', 'partner.csr'])).toMatchObject([{ clientIds: ['partner'] }]);
    const p = run(dir, ['issue-client', 'holder', '--p12', '--p12-password-file', 'p12.pass']);
    expect(p).toMatchObject([{ clientIds: ['holder'], command: ['ca', 'issue-client', 'holder', '--p12', '--p12-password-file', '[redacted]'] }]);
  });

  it('no passphrase, PKCS#12 password or secret file name reaches the trail or the store, by flag or by environment', () => {
    const e = run(dir, ['--passphrase-file', 'ca.pass', 'issue-client', 'viaflag'], { CA_PASSPHRASE: '' });
    // the passphrase came from the file this time (CA_PASSPHRASE empty), every other time from CA_PASSPHRASE
    expect(e).toHaveLength(1);
    expect(e[0]!.command).toEqual(['ca', '--passphrase-file', '[redacted]', 'issue-client', 'viaflag']);
    const text = storeText(dir);
    for (const secret of [PASSPHRASE, P12_PASSWORD, 'p12.pass', 'ca.pass']) expect(text.includes(secret), secret).toBe(false);
  });

  it('issue-client --from: one event per commit, each listed client named exactly once; --prune records its revocations', () => {
    const e = run(dir, ['issue-client', '--from', 'clients.json', '--yes']);
    expect(new Set(e.map((x) => x.run)).size).toBe(1);
    expect(e.flatMap((x) => x.clientIds).sort()).toEqual(['f1', 'f2', 'f3']);
    writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: [{ client_id: 'f1' }, { client_id: 'f2' }] }));
    // the listing also names clients outside the file (acme, partner…): prune them all but keep this test's count
    const pruned = run(dir, ['issue-client', '--from', 'clients.json', '--prune', '--yes', '--json']);
    const revoked = pruned.flatMap((x) => x.clientIds).sort();
    expect(revoked).toContain('f3');
    expect(revoked).not.toContain('f1');
    expect(pruned.every((x) => x.operation === 'issue-client' && x.change === 'registry')).toBe(true);
    // acme, partner, holder, viaflag were revoked by the prune too: issue them again for the next steps
    for (const id of ['acme', 'holder']) run(dir, ['issue-client', id, ...(id === 'holder' ? ['--p12', '--p12-password-file', 'p12.pass'] : [])]);
  });

  it('renew and renew --all: the new and the superseded serial in the same event', () => {
    const before = JSON.parse(readFileSync(join(dir, 'pki', 'registry.json'), 'utf8')).records.find((r: { clientId: string; status: string }) => r.clientId === 'acme' && r.status === 'active').serial;
    const e = run(dir, ['renew', 'acme']);
    expect(e).toHaveLength(1);
    expect(e[0]!.serials).toHaveLength(2);
    expect(e[0]!.serials).toContain(before);
    const all = run(dir, ['renew', '--all', '--p12-password-file', 'p12.pass']);
    expect(all.flatMap((x) => x.clientIds).sort()).toEqual(['acme', 'f1', 'f2', 'holder']);
    expect(all.every((x) => x.serials.length === 2 * x.clientIds.length)).toBe(true);
  });

  it('revoke (by id and by --serial): one event', () => {
    const e = run(dir, ['revoke', 'f2', '--reason', 'keyCompromise', '--yes']);
    expect(e).toMatchObject([{ operation: 'revoke', clientIds: ['f2'] }]);
    const serial = JSON.parse(readFileSync(join(dir, 'pki', 'registry.json'), 'utf8')).records.find((r: { clientId: string; status: string }) => r.clientId === 'f1' && r.status === 'active').serial;
    expect(run(dir, ['revoke', '--serial', serial, '--yes'])).toMatchObject([{ operation: 'revoke', serials: [serial] }]);
  });

  it('rotate-intermediate: the new intermediate, the publication, the re-issue chunk, the rotation\'s end', () => {
    const e = run(dir, ['rotate-intermediate', '--p12-password-file', 'p12.pass']);
    expect(e.map((x) => x.change)).toEqual(['registry', 'truststore', 'registry', 'registry']);
    expect(e[0]!.serials).toHaveLength(2);
    expect(e[2]!.clientIds.sort()).toEqual(['acme', 'holder']);
    expect(e.every((x) => x.operation === 'rotate-intermediate')).toBe(true);
  });

  it('retire-intermediate: the retirement and the publication', () => {
    const e = run(dir, ['retire-intermediate', '--force', '--yes']);
    expect(e.map((x) => [x.operation, x.change])).toEqual([
      ['retire-intermediate', 'registry'],
      ['retire-intermediate', 'truststore'],
    ]);
  });

  it('truststore publish: nothing when current; a repaired copy is recorded', () => {
    expect(run(dir, ['truststore', 'publish'])).toEqual([]);
    writeFileSync(join(dir, 'pki', 'truststore.pem'), 'edited by hand\n');
    const e = run(dir, ['truststore', 'publish']);
    expect(e).toMatchObject([{ operation: 'truststore publish', change: 'truststore', detail: { repaired: expect.any(String) } }]);
  });

  it('read-only commands, dry runs and refused commands leave no event', () => {
    const trail = join(dir, 'pki', 'audit.jsonl');
    const before = fileDigest(trail);
    const n = events(dir).length;
    for (const args of [
      ['list'],
      ['list', '--all', '--json'],
      ['inspect', 'acme'],
      ['status'],
      ['audit'],
      ['audit', 'verify'],
      ['truststore', 'verify'],
      ['truststore', 'show'],
      ['issue-client', 'newone', '--dry-run'],
      ['renew', 'acme', '--dry-run'],
      ['revoke', 'acme', '--dry-run'],
      ['rotate-intermediate', '--dry-run', '--p12-password-file', 'p12.pass'],
      ['truststore', 'publish', '--dry-run'],
    ]) {
      const r = ca(dir, args);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    expectError(ca(dir, ['revoke', 'nobody', '--yes']), 4, /nobody/);
    expectError(ca(dir, ['issue-client', 'acme']), 5, /acme/);
    expectError(ca(dir, ['audit', '--since', 'yesterday']), 2, /--since/);
    expect(fileDigest(trail)).toBe(before);
    expect(events(dir)).toHaveLength(n);
    expect(existsSync(join(dir, 'pki', 'registry.journal'))).toBe(false);
  });

  it('ca audit filters by client, serial and time; ca audit verify passes on the untouched trail', () => {
    const acme = events(dir, ['--client', 'acme']);
    expect(acme.length).toBeGreaterThanOrEqual(4);
    expect(acme.every((e) => e.clientIds.includes('acme'))).toBe(true);
    const s = acme[0]!.serials[0]!;
    expect(events(dir, ['--serial', s.toUpperCase()]).every((e) => e.serials.includes(s))).toBe(true);
    const all = events(dir);
    const since = (all.at(-1) as Event & { time: string }).time;
    expect(events(dir, ['--since', since]).map((e) => e.seq)).toEqual([all.at(-1)!.seq]);
    const v = ca(dir, ['audit', 'verify', '--json']);
    expect(v.code, v.stderr).toBe(0);
    expect(v.json()).toMatchObject({ ok: true, events: all.length, lastGoodSeq: all.length, firstBreak: null, head: { seq: all.length } });
    expect(ca(dir, ['audit']).stdout).toMatch(/^#1 +\S+ +bootstrap +registry +ok/m);
  });

  describe('ca audit verify names the first broken event of an edited trail (exit 7)', () => {
    const copies: string[] = [];
    /** A copy of the store with its audit.jsonl lines transformed. */
    function tampered(edit: (lines: string[]) => string[]): string {
      const d = tempDir('ca-audit-tamper-');
      copies.push(d);
      execFileSync('cp', ['-a', join(dir, 'pki'), join(d, 'pki')]);
      const path = join(d, 'pki', 'audit.jsonl');
      const lines = readFileSync(path, 'utf8').trim().split('\n');
      writeFileSync(path, edit(lines).join('\n') + '\n');
      return d;
    }
    function broken(d: string): { seq: number; reason: string } {
      const r = ca(d, ['audit', 'verify', '--json']);
      expect(r.code, r.stderr).toBe(7);
      expect(r.stderr).toMatch(/^error: the audit trail is broken at event \d+/);
      const doc = r.json();
      expect(doc.ok).toBe(false);
      return doc.firstBreak;
    }
    const edit = (line: string, f: (e: Record<string, unknown>) => void) => {
      const e = JSON.parse(line);
      f(e);
      return JSON.stringify(e);
    };

    it('an edited actor', () => {
      expect(broken(tampered((l) => l.map((x, i) => (i === 4 ? edit(x, (e) => (e.actor = 'someone-else@host')) : x))))).toMatchObject({ seq: 5, reason: expect.stringMatching(/altered/) });
    });
    it('a deleted event', () => {
      expect(broken(tampered((l) => l.filter((_, i) => i !== 2)))).toMatchObject({ seq: 3, reason: expect.stringMatching(/missing/) });
    });
    it('two events swapped', () => {
      expect(broken(tampered((l) => [...l.slice(0, 5), l[6]!, l[5]!, ...l.slice(7)])).seq).toBe(6);
    });
    it('an inserted event (a copy of another)', () => {
      expect(broken(tampered((l) => [...l.slice(0, 3), l[1]!, ...l.slice(3)])).seq).toBe(4);
    });
    it('the last events cut off (the registry keeps the head)', () => {
      const n = readFileSync(join(dir, 'pki', 'audit.jsonl'), 'utf8').trim().split('\n').length;
      expect(broken(tampered((l) => l.slice(0, -2)))).toMatchObject({ seq: n - 1, reason: expect.stringMatching(/missing/) });
    });
    it('a line that is not JSON', () => {
      expect(broken(tampered((l) => l.map((x, i) => (i === 1 ? x.slice(0, 30) : x)))).seq).toBe(2);
    });
  });
});
