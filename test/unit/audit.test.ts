import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENESIS, canonicalJson, eventHash, filterEvents, redactCommandLine, sealEvent, verifyChain } from '../../src/domain/audit.js';
import { JsonFileRegistry } from '../../src/adapters/local/json-registry.js';
import type { AuditDraft, AuditEvent, CertificateRecord } from '../../src/ports.js';

const draft = (i: number, o: Partial<AuditDraft> = {}): AuditDraft => ({
  time: new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString(),
  operation: 'issue-client',
  run: `run${i}`,
  change: 'registry',
  result: 'ok',
  serials: [`0${i}`],
  clientIds: [`client${i}`],
  actor: 'alice@host',
  version: '0.0.0',
  command: ['ca', 'issue-client', `client${i}`],
  ...o,
});

function chain(n: number): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (let i = 1; i <= n; i++) out.push(sealEvent(draft(i), out.at(-1)));
  return out;
}

describe('audit events: canonical form and hash', () => {
  it('sorts members at every depth, drops absent ones, and writes no whitespace', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, 'x'], c: undefined, b: null } })).toBe('{"a":{"b":null,"d":[1,"x"]},"b":1}');
  });

  it('hashes the canonical form without `hash` with SHA-256 (checked with an independent digest of the bytes)', () => {
    const e = sealEvent(draft(1), undefined);
    const { hash, ...rest } = e;
    const keys = Object.keys(rest).sort();
    const manual = '{' + keys.map((k) => `${JSON.stringify(k)}:${canonicalJson((rest as Record<string, unknown>)[k])}`).join(',') + '}';
    expect(hash).toBe(createHash('sha256').update(manual).digest('hex'));
    // the member order of the stored JSON does not matter
    const shuffled = JSON.parse(JSON.stringify(Object.fromEntries(Object.entries(e).reverse())));
    expect(eventHash(shuffled)).toBe(hash);
  });

  it('chains: seq 1, 2, 3 and each prevHash the previous hash, the first GENESIS', () => {
    const c = chain(3);
    expect(c.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(c[0]!.prevHash).toBe(GENESIS);
    expect(c[1]!.prevHash).toBe(c[0]!.hash);
    expect(verifyChain(c, { seq: 3, hash: c[2]!.hash })).toEqual({ ok: true, events: 3, lastGoodSeq: 3 });
  });
});

describe('ca audit verify: every kind of tampering names the first broken sequence number', () => {
  const head = (c: AuditEvent[]) => ({ seq: c.at(-1)!.seq, hash: c.at(-1)!.hash });

  it('an edited event (a serial changed) breaks at that event', () => {
    const c = chain(5);
    const h = head(c);
    c[2] = { ...c[2]!, serials: ['ff'] };
    expect(verifyChain(c, h).firstBreak).toEqual({ seq: 3, reason: expect.stringMatching(/altered/) });
  });

  it('an edited event whose hash was recomputed breaks at the next one', () => {
    const c = chain(5);
    const h = head(c);
    const edited = { ...c[2]!, actor: 'mallory@host' };
    c[2] = { ...edited, hash: eventHash(edited) };
    expect(verifyChain(c, h).firstBreak).toEqual({ seq: 4, reason: expect.stringMatching(/does not follow/) });
  });

  it('a deleted event breaks at its sequence number', () => {
    const c = chain(5);
    const h = head(c);
    c.splice(1, 1);
    expect(verifyChain(c, h).firstBreak).toEqual({ seq: 2, reason: expect.stringMatching(/missing/) });
  });

  it('two events swapped break at the first of them', () => {
    const c = chain(5);
    const h = head(c);
    [c[2], c[3]] = [c[3]!, c[2]!];
    expect(verifyChain(c, h).firstBreak?.seq).toBe(3);
  });

  it('an inserted event breaks where it was inserted', () => {
    const c = chain(5);
    const h = head(c);
    const forged = sealEvent(draft(9), c[1]);
    c.splice(2, 0, forged);
    // the forgery claims seq 3 and chains to 2; the real 3 then repeats seq 3... the first break is at 4
    expect(verifyChain(c, h).ok).toBe(false);
    expect(verifyChain(c, h).firstBreak?.seq).toBe(4);
  });

  it('a cut tail is caught by the head the store keeps apart from the trail', () => {
    const c = chain(5);
    const h = head(c);
    expect(verifyChain(c.slice(0, 3), h).firstBreak).toEqual({ seq: 4, reason: expect.stringMatching(/missing: the store records 5 events/) });
    // without the head the chain alone cannot tell
    expect(verifyChain(c.slice(0, 3)).ok).toBe(true);
  });

  it('an event appended after the head breaks at it', () => {
    const c = chain(5);
    const h = { seq: 4, hash: c[3]!.hash };
    expect(verifyChain(c, h).firstBreak?.seq).toBe(5);
  });
});

describe('the command line in an event carries no secret', () => {
  const valued = new Set(['--p12-password-file', '--passphrase-file', '--dir', '--serial', '--reason', '--p12-password', '--token']);

  it('redacts the value of every option whose name may carry a secret, in both forms', () => {
    expect(
      redactCommandLine(['issue-client', 'acme', '--p12', '--p12-password-file', '/run/secrets/p12', '--dir', 'pki', '--passphrase-file=/s/pass', '--token', 'abc', '--p12-password', 'hunter2'], valued),
    ).toEqual(['issue-client', 'acme', '--p12', '--p12-password-file', '[redacted]', '--dir', 'pki', '--passphrase-file=[redacted]', '--token', '[redacted]', '--p12-password', '[redacted]']);
  });

  it('keeps a boolean flag and the argument after it (`--no-passphrase` takes no value)', () => {
    expect(redactCommandLine(['bootstrap', '--no-passphrase', '--insecure', '--reason', 'keyCompromise'], valued)).toEqual(['bootstrap', '--no-passphrase', '--insecure', '--reason', 'keyCompromise']);
  });
});

describe('filters of ca audit', () => {
  it('by time, client id and serial (colons and case ignored)', () => {
    const c = chain(4);
    expect(filterEvents(c, { since: c[2]!.time }).map((e) => e.seq)).toEqual([3, 4]);
    expect(filterEvents(c, { clientId: 'client2' }).map((e) => e.seq)).toEqual([2]);
    expect(filterEvents(c, { serial: '0:4' }).map((e) => e.seq)).toEqual([4]);
  });
});

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const record = (serial: string, clientId = 'acme'): CertificateRecord =>
  ({
    serial,
    kind: 'client',
    clientId,
    status: 'active',
    fingerprint: serial.padEnd(64, '0'),
    subject: `CN=${clientId}`,
    issuer: 'CN=i',
    issuerSerial: 'aa',
    notBefore: '2026-01-01T00:00:00.000Z',
    notAfter: '2027-01-01T00:00:00.000Z',
    keyType: 'ec-p256',
    publicKey: 'AA==',
    keyOrigin: 'generated',
    certificatePem: 'x',
    createdAt: '2026-01-01T00:00:00.000Z',
  }) as CertificateRecord;

describe('the local store: the event is in the journal line of its commit, then in audit.jsonl', () => {
  it('writes the event with its commit, moves it to audit.jsonl (0600) at compaction, and records the head in registry.json', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-audit-'));
    dirs.push(dir);
    const reg = new JsonFileRegistry(dir);
    await reg.commit([{ op: 'create', record: record('01') }], { audit: draft(1) });
    // before compaction: the journal line holds the records and the event together
    const line = readFileSync(join(dir, 'registry.journal'), 'utf8').trim().split('\n')[1]!;
    expect(JSON.parse(line)).toMatchObject({ records: [{ serial: '01' }], audit: { seq: 1, serials: ['01'] } });
    expect(await reg.auditEvents()).toHaveLength(1);
    reg.compact();
    expect(statSync(join(dir, 'audit.jsonl')).mode & 0o777).toBe(0o600);
    const events = readFileSync(join(dir, 'audit.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.seq)).toEqual([1]);
    expect(JSON.parse(readFileSync(join(dir, 'registry.json'), 'utf8')).auditHead).toEqual({ seq: 1, hash: events[0].hash });
    // a commit that changes nothing (already in place) writes no event
    await reg.commit([{ op: 'create', record: record('01') }], { audit: draft(2) });
    expect(await reg.auditEvents()).toHaveLength(1);
    await reg.commit([{ op: 'create', record: record('02', 'bob') }], { audit: draft(3) });
    await reg.appendAudit(draft(4, { change: 'truststore', serials: [], clientIds: [], truststoreVersion: '2' }));
    const fresh = new JsonFileRegistry(dir);
    const all = await fresh.auditEvents();
    expect(all.map((e) => e.seq)).toEqual([1, 2, 3]);
    expect(verifyChain(all, await fresh.auditHead()).ok).toBe(true);
  });

  it('a compaction cut short after audit.jsonl was written is completed by the next one, never doubled; a torn last line is cut off', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-audit-'));
    dirs.push(dir);
    const reg = new JsonFileRegistry(dir);
    await reg.commit([{ op: 'create', record: record('01') }], { audit: draft(1) });
    reg.compact();
    await reg.commit([{ op: 'create', record: record('02', 'b') }], { audit: draft(2) });
    await reg.commit([{ op: 'create', record: record('03', 'c') }], { audit: draft(3) });
    // as if a flush wrote event 2 and half of event 3, then the process died before the snapshot
    const pending = await reg.auditEvents();
    const path = join(dir, 'audit.jsonl');
    writeFileSync(path, readFileSync(path, 'utf8') + JSON.stringify(pending[1]) + '\n' + JSON.stringify(pending[2]).slice(0, 40));
    const next = new JsonFileRegistry(dir);
    expect((await next.auditEvents()).map((e) => e.seq)).toEqual([1, 2, 3]);
    next.compact();
    const lines = readFileSync(path, 'utf8').split('\n');
    expect(lines.at(-1)).toBe('');
    expect(lines.slice(0, -1).map((l) => JSON.parse(l).seq)).toEqual([1, 2, 3]);
    expect(verifyChain(await new JsonFileRegistry(dir).auditEvents(), await new JsonFileRegistry(dir).auditHead()).ok).toBe(true);
  });
});
