import { describe, it, expect } from 'vitest';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ca, fileDigest, tempDir } from '../helpers/cli.js';

describe('ca init and truststore publish without surprises', () => {
  it('init after a CA already exists in ./pki keeps that store for the new environment, and status still finds the CA', () => {
    const dir = tempDir('ca-init-');
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    const r = ca(dir, ['init', '--env', 'sandbox', '--store', 'local', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/a CA already exists in .*pki: environment sandbox keeps it/);
    expect(r.json().settings.dir).toBe('./pki');
    const s = ca(dir, ['status', '--json']);
    expect(s.code, s.stderr).toBe(0);
    expect(s.json().initialized).toBe(true);
    // a second environment gets a directory of its own
    const second = ca(dir, ['init', '--env', 'staging', '--store', 'local', '--json']);
    expect(second.json().settings.dir).toBe('./pki/staging');
  });

  it('init --dry-run writes nothing and says what it would write', () => {
    const dir = tempDir('ca-init-dry-');
    const r = ca(dir, ['init', '--env', 'sandbox', '--store', 'local', '--ci', 'github', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.dryRun).toBe(true);
    // files: in a dry run, what it would write
    expect(out.files[0]).toMatch(/ca\.config\.json$/);
    expect(out.files.length).toBeGreaterThan(1);
    expect(existsSync(join(dir, 'ca.config.json'))).toBe(false);
    expect(existsSync(join(dir, '.github'))).toBe(false);
  });

  it('truststore publish --dry-run says what it would repair and changes nothing', () => {
    const dir = tempDir('ca-publish-dry-');
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    const ts = join(dir, 'pki', 'truststore.pem');
    const original = readFileSync(ts, 'utf8');
    rmSync(ts);
    const registry = fileDigest(join(dir, 'pki', 'registry.json'));
    const r = ca(dir, ['truststore', 'publish', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ dryRun: true, changed: false, version: '1', repaired: [expect.stringMatching(/missing/)], files: [] });
    expect(existsSync(ts)).toBe(false);
    expect(fileDigest(join(dir, 'pki', 'registry.json'))).toBe(registry);
    expect(ca(dir, ['truststore', 'publish']).code).toBe(0);
    expect(readFileSync(ts, 'utf8')).toBe(original);
  });
});
