import { describe, it, expect, beforeAll } from 'vitest';
import { appendFileSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ca, tempDir } from '../helpers/cli.js';

/** `ca status` as a scheduled CI job reads it: one line per problem, `--check` exits 7 on any. */
describe('ca status for people and for CI', () => {
  const dir = tempDir('ca-status-');
  beforeAll(() => {
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    for (let i = 0; i < 12; i++) expect(ca(dir, ['issue-client', `short-${i}`, '--days', String(10 + i)]).code).toBe(0);
    expect(ca(dir, ['issue-client', 'long']).code).toBe(0);
  });

  it('aggregates expiring clients into one warning and names the soonest expiry per kind', () => {
    const r = ca(dir, ['status', '--warn-days', '400', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const s = r.json();
    const clientWarnings = s.warnings.filter((w: string) => /client certificate/.test(w));
    expect(clientWarnings).toHaveLength(1);
    expect(clientWarnings[0]).toMatch(/^13 client certificates expire within 400 days, the first short-0 in 9 days/);
    expect(s.soonest.map((x: { kind: string }) => x.kind)).toEqual(['root', 'intermediate', 'client']);
    expect(s.soonest[2]).toMatchObject({ kind: 'client', name: 'short-0', count: 13 });
    const human = ca(dir, ['status', '--warn-days', '400']);
    expect(human.stdout).toMatch(/^soonest expiry: root .*; intermediate .*; client short-0 /m);
    // one line for thirteen clients; nothing else is within 400 days
    expect(human.stdout.match(/^warning: /gm)).toHaveLength(1);
  });

  it('--check exits 7 when there is a warning, 0 when there is none', () => {
    const quiet = ca(dir, ['status', '--check', '--warn-days', '5']);
    expect(quiet.code, quiet.stdout + quiet.stderr).toBe(0);
    const loud = ca(dir, ['status', '--check', '--warn-days', '30']);
    expect(loud.code).toBe(7);
    expect(loud.stderr).toMatch(/^error: 1 warning\(s\): 12 client certificates expire within 30 days/);
    const json = ca(dir, ['status', '--check', '--warn-days', '30', '--json']);
    expect(json.code).toBe(7);
    expect(json.json().warnings).toHaveLength(1);
  });

  it('a truststore.pem edited or deleted by hand is reported (exit 7 with --check) and repaired by `ca truststore publish`', () => {
    const ts = join(dir, 'pki', 'truststore.pem');
    const original = readFileSync(ts, 'utf8');
    appendFileSync(ts, '# edited\n');
    const edited = ca(dir, ['status', '--check', '--warn-days', '5', '--json']);
    expect(edited.code).toBe(7);
    expect(edited.json().truststore.drift[0]).toMatch(/truststore\.pem \(sha256 [0-9a-f]{16}…\) differs from the latest published version 1/);
    rmSync(ts);
    const gone = ca(dir, ['status', '--check', '--warn-days', '5']);
    expect(gone.code).toBe(7);
    expect(gone.stdout).toMatch(/^warning: truststore: .*truststore\.pem is missing \(the latest version is 1\)/m);
    const fix = ca(dir, ['truststore', 'publish', '--json']);
    expect(fix.code, fix.stderr).toBe(0);
    expect(fix.json()).toMatchObject({ dryRun: false, version: '1', changed: false, repaired: [expect.stringMatching(/is missing/)], files: [realpathSync(ts)] });
    expect(readFileSync(ts, 'utf8')).toBe(original);
    expect(ca(dir, ['status', '--check', '--warn-days', '5']).code).toBe(0);
  });
});
