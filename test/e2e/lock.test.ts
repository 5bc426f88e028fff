import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ca, fileDigest } from '../helpers/cli.js';

/** The store's lock as the real binary meets it: exit codes and the one-line error. */
describe('ca and the store lock', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = mkdtempSync(join(tmpdir(), 'ca-e2e-lock-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

  it('a command refused by another live command exits 5, names its pid, and changes nothing', async () => {
    const dir = tmp();
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    expect(ca(dir, ['issue-client', 'held']).code).toBe(0);
    const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
    try {
      writeFileSync(join(dir, 'pki', '.lock'), String(other.pid));
      const registry = fileDigest(join(dir, 'pki', 'registry.json'));
      const r = ca(dir, ['revoke', 'held', '--yes']);
      expect(r.code, r.stderr).toBe(5);
      expect(r.stderr).toBe(`error: another ca command (pid ${other.pid}) is changing ${join(dir, 'pki')}\nhint: wait for it to finish: the lock frees when pid ${other.pid} exits\n`);
      expect(fileDigest(join(dir, 'pki', 'registry.json'))).toBe(registry);
    } finally {
      other.kill();
    }
  });

  // Mounting needs root (or CAP_SYS_ADMIN): elsewhere this test is skipped, and says so.
  const canMount = (() => {
    const probe = tmp();
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', ['-l', probe]);
      return true;
    } catch {
      return false;
    }
  })();

  it.skipIf(!canMount)('ca revoke on a full disk exits 6 naming the cause and leaves no .lock', () => {
    const dir = tmp();
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', dir]);
    try {
      expect(ca(dir, ['bootstrap']).code).toBe(0);
      expect(ca(dir, ['issue-client', 'full']).code).toBe(0);
      const fill = join(dir, 'fill');
      writeFileSync(fill, '');
      for (let chunk = 65536; chunk >= 1; chunk = Math.floor(chunk / 2)) {
        try {
          for (let i = 0; i < 64; i++) writeFileSync(fill, Buffer.alloc(chunk), { flag: 'a' });
        } catch (e) {
          expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
        }
      }
      const r = ca(dir, ['revoke', 'full', '--yes']);
      expect(r.code, r.stderr).toBe(6);
      expect(r.stderr.split('\n')[0]).toBe(`error: failed to take the lock in ${join(dir, 'pki')}: ENOSPC: no space left on device, write`);
      expect(readdirSync(join(dir, 'pki')).filter((n) => n.startsWith('.lock'))).toEqual([]);
      rmSync(fill);
      const again = ca(dir, ['revoke', 'full', '--yes']);
      expect(again.code, again.stderr).toBe(0);
      expect(existsSync(join(dir, 'pki', '.lock'))).toBe(false);
    } finally {
      execFileSync('umount', ['-l', dir]);
    }
  });
});
