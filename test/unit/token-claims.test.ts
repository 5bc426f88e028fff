import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { certificateThumbprint } from '../../src/domain/token-claims.js';

describe('certificate thumbprint (RFC 8705 x5t#S256)', () => {
  it('equals base64url of the SHA-256 of the DER as openssl computes it, unpadded', () => {
    const dir = mkdtempSync(join(tmpdir(), 'thumb-'));
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' });
    writeFileSync(join(dir, 'k.pem'), key, { mode: 0o600 });
    execFileSync('openssl', ['req', '-x509', '-new', '-key', join(dir, 'k.pem'), '-subj', '/CN=t', '-days', '1', '-out', join(dir, 'c.pem')]);
    const der = new X509Certificate(execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem')])).raw;
    const hex = execFileSync('openssl', ['x509', '-in', join(dir, 'c.pem'), '-noout', '-fingerprint', '-sha256']).toString().split('=')[1]!.trim().replace(/:/g, '');
    const expected = Buffer.from(hex, 'hex').toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
    expect(certificateThumbprint(der)).toBe(expected);
    expect(certificateThumbprint(der)).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });
});
