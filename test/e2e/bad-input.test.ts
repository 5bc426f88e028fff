import { describe, it, expect, beforeAll } from 'vitest';
import { chmodSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { BIN, ca, expectError, fileDigest, openssl, tempDir } from '../helpers/cli.js';

/**
 * Bad input gets a one-line error naming the problem, the documented exit code, and changes nothing
 * (the registry is byte-identical afterwards).
 */
describe('bad input on the embedded store', () => {
  const dir = tempDir('ca-bad-');
  const registry = join(dir, 'pki', 'registry.json');
  let serials: string[] = [];
  let before = '';

  beforeAll(() => {
    expect(ca(dir, ['bootstrap']).code).toBe(0);
    for (const id of ['alpha', 'beta']) expect(ca(dir, ['issue-client', id]).code).toBe(0);
    serials = ca(dir, ['list', '--json']).json().certificates.map((c: { serial: string }) => c.serial);
    mkdirSync(join(dir, 'adir'));
    before = fileDigest(registry);
  });
  const unchanged = () => expect(fileDigest(registry)).toBe(before);

  it('an endless input (/dev/zero) is read with a bound, not trusted from stat: exit 3', () => {
    expectError(ca(dir, ['issue-client', 'zero', '--csr', '/dev/zero']), 3, /CSR file \/dev\/zero is too large/);
    expectError(ca(dir, ['inspect', '/dev/zero']), 3, /certificate file \/dev\/zero is too large/);
    unchanged();
  });

  it('a directory where a file is expected is invalid input (3), not a bug', () => {
    expectError(ca(dir, ['issue-client', 'd', '--csr', 'adir']), 3, /CSR file adir is a directory/);
    expectError(ca(dir, ['issue-client', '--from', 'adir']), 3, /provisioning file .*adir is a directory/);
    expectError(ca(dir, ['inspect', 'adir/']), 3, /is a directory/);
    unchanged();
  });

  it('numbers are decimal integers: 0x10, 1e2, abc and -1 are refused naming the flag (exit 2)', () => {
    for (const v of ['0x10', '1e2', 'abc', '-1', '', '12.5']) {
      expectError(ca(dir, ['issue-client', 'n1', '--days', v]), 2, /--days must be a whole number from 1 to 36500/);
    }
    expectError(ca(dir, ['status', '--warn-days', 'abc']), 2, /--warn-days must be a whole number/);
    expectError(ca(dir, ['status', '--warn-days', '-1']), 2, /--warn-days must be a whole number/);
    expectError(ca(dir, ['renew', 'alpha', '--days', '0x10']), 2, /--days/);
    expectError(ca(dir, ['rotate-intermediate', '--grace-days', '1e1']), 2, /--grace-days/);
    unchanged();
  });

  it('a malformed serial is invalid input (3); an unambiguous prefix or the abbreviated form names its certificate', () => {
    expectError(ca(dir, ['revoke', '--serial', 'xyz!!', '--yes']), 3, /malformed serial "xyz!!"/);
    expectError(ca(dir, ['revoke', '--serial', 'ab…', '--yes']), 3, /too short/);
    const [a] = serials;
    const dry = ca(dir, ['revoke', '--serial', a!.slice(0, 12), '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json().revoked.map((r: { serial: string }) => r.serial)).toEqual([a]);
    const abbreviated = ca(dir, ['revoke', '--serial', `${a!.slice(0, 4)}…${a!.slice(-2)}`, '--dry-run', '--json']);
    expect(abbreviated.code, abbreviated.stderr).toBe(0);
    expect(abbreviated.json().revoked[0].serial).toBe(a);
    expectError(ca(dir, ['revoke', '--serial', 'ffff…ff', '--yes']), 4, /no certificate with serial/);
    unchanged();
  });

  it('say what is wrong: no id for revoke, a client_id that is not a string', () => {
    expectError(ca(dir, ['revoke', '--yes']), 2, /missing client id/);
    writeFileSync(join(dir, 'num.json'), JSON.stringify({ clients: [{ client_id: 42 }] }));
    expectError(ca(dir, ['issue-client', '--from', 'num.json']), 3, /clients\[0\]: client id must be a string, got the number 42/);
    unchanged();
  });

  it('CSR paths in a --from file stay inside the file\'s directory unless --allow-csr-outside', () => {
    const sub = join(dir, 'prov');
    mkdirSync(sub);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'outside.key'], dir);
    openssl(['req', '-new', '-key', 'outside.key', '-subj', '/CN=x', '-out', 'outside.csr'], dir);
    symlinkSync(join(dir, 'outside.csr'), join(sub, 'link.csr'));
    for (const csr of ['../outside.csr', join(dir, 'outside.csr'), 'link.csr']) {
      writeFileSync(join(sub, 'c.json'), JSON.stringify({ clients: [{ client_id: 'outside', csr }] }));
      expectError(ca(dir, ['issue-client', '--from', 'prov/c.json']), 3, /leads outside the provisioning file's directory/);
    }
    unchanged();
    const ok = ca(dir, ['issue-client', '--from', 'prov/c.json', '--allow-csr-outside', '--dry-run']);
    expect(ok.code, ok.stderr).toBe(0);
  });

  it('a registry of an unknown format is refused (exit 6), naming the version that wrote it', () => {
    const other = tempDir('ca-format-');
    expect(ca(other, ['bootstrap']).code).toBe(0);
    const path = join(other, 'pki', 'registry.json');
    const doc = JSON.parse(readFileSync(path, 'utf8'));
    expect(doc.writtenBy).toMatch(/^\d+\.\d+\.\d+/);
    writeFileSync(path, JSON.stringify({ ...doc, format: 2, writtenBy: '9.0.0' }));
    expectError(ca(other, ['list']), 6, /has format 2 \(written by ca 9\.0\.0\), which ca .* cannot read/);
    expectError(ca(other, ['issue-client', 'x']), 6, /has format 2/);
  });

  it('usage errors print one JSON error document with --json', () => {
    const r = ca(dir, ['issue-client', '--bogus-flag', '--json']);
    expect(r.code).toBe(2);
    expect(r.json()).toMatchObject({ error: { code: 'usage', exitCode: 2, message: expect.stringMatching(/unknown option '--bogus-flag'/) } });
    const n = ca(dir, ['status', '--warn-days', 'x', '--json']);
    expect(n.code).toBe(2);
    expect(n.json().error.code).toBe('usage');
  });

  it('operating-system failures get their documented code: a port in use is a conflict (5), an existing file in the way too', async () => {
    const busy: Server = createServer();
    await new Promise<void>((res) => busy.listen(0, '127.0.0.1', () => res()));
    const port = (busy.address() as { port: number }).port;
    try {
      const { caAsync } = await import('../helpers/cli.js');
      const r = await caAsync(dir, ['gateway', '--port', String(port)]);
      expectError(r as ReturnType<typeof ca>, 5, new RegExp(`failed to listen on .*:${port}: .*address already in use \\(EADDRINUSE\\)`));
    } finally {
      busy.close();
    }
    writeFileSync(join(dir, 'afile'), 'x');
    expectError(ca(dir, ['authorizer', 'build', '--out', 'afile']), 5, /failed to mkdir .*\/afile: already exists \(EEXIST\)/);
  });

  // as root, mode bits stop nothing: the command runs as the unprivileged user `nobody` against a store root owns
  const asNobody = process.getuid?.() === 0 && spawnSync('setpriv', ['--version']).status === 0;
  it.runIf(asNobody)('permission denied on the store is a storage error (6) naming the path, not a bug, and changes nothing', () => {
    const own = tempDir('ca-eacces-');
    expect(ca(own, ['bootstrap']).code).toBe(0);
    chmodSync(own, 0o755);
    chmodSync(join(own, 'pki'), 0o755);
    chmodSync(join(own, 'pki', 'registry.json'), 0o644);
    const reg = fileDigest(join(own, 'pki', 'registry.json'));
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, BIN, 'truststore', 'publish'], {
      cwd: own,
      encoding: 'utf8',
      env: { ...process.env, CA_PASSPHRASE: 'unused-here', CA_DEBUG: '' },
      timeout: 60_000,
    });
    expectError({ code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, json: () => JSON.parse(r.stdout) }, 6, /^error: failed to take the lock in .*pki: .*EACCES/);
    expect(fileDigest(join(own, 'pki', 'registry.json'))).toBe(reg);
    expect(readdirSync(join(own, 'pki')).sort()).toEqual(['audit.jsonl', 'keys', 'registry.json', 'truststore-versions', 'truststore.pem']);
  });
});

