import { describe, it, expect, beforeAll } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { ca, openssl, tempDir } from '../helpers/cli.js';

/**
 * A real TLS 1.2+ handshake against a Node server configured the way API Gateway's mTLS domain is:
 * the truststore as the only trusted CAs, a client certificate required.
 */
async function handshake(truststore: string, client: { cert: string; key: string } | null, server: { cert: string; key: string }): Promise<'accepted' | string> {
  const srv = tls.createServer({ ...server, ca: truststore, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' }, (s) => s.end('hello'));
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  try {
    return await new Promise((resolve) => {
      const sock = tls.connect({ host: '127.0.0.1', port, servername: 'localhost', ca: server.cert, ...(client ?? {}) });
      let data = '';
      sock.on('data', (d) => (data += d));
      sock.on('end', () => resolve(data === 'hello' ? 'accepted' : `closed without data`));
      sock.on('error', (e) => resolve(`rejected: ${(e as NodeJS.ErrnoException).code ?? e.message}`));
    });
  } finally {
    await new Promise((r) => srv.close(r));
  }
}

describe('client certificates in a real TLS handshake', () => {
  const dir = tempDir('ca-tls-');
  const foreign = tempDir('ca-foreign-');
  const read = (...p: string[]) => readFileSync(join(...p), 'utf8');
  const client = (root: string, id: string) => ({ cert: read(root, 'bundles', id, `${id}.crt`), key: read(root, 'bundles', id, `${id}.key`) });
  let server: { cert: string; key: string };

  beforeAll(() => {
    openssl(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'server.key', '-out', 'server.crt', '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'], dir);
    server = { cert: read(dir, 'server.crt'), key: read(dir, 'server.key') };
    for (const [d, id] of [[dir, 'acme'], [foreign, 'intruder']] as const) {
      expect(ca(d, ['bootstrap']).code).toBe(0);
      expect(ca(d, ['issue-client', id]).code).toBe(0);
    }
    expect(ca(dir, ['issue-client', 'rsa-client', '--key-type', 'rsa-2048']).code).toBe(0);
  });

  it('accepts a fresh client certificate (EC and RSA)', async () => {
    const ts = read(dir, 'pki', 'truststore.pem');
    expect(await handshake(ts, client(dir, 'acme'), server)).toBe('accepted');
    expect(await handshake(ts, client(dir, 'rsa-client'), server)).toBe('accepted');
  });

  it("rejects a foreign CA's certificate and a missing certificate", async () => {
    const ts = read(dir, 'pki', 'truststore.pem');
    expect(await handshake(ts, client(foreign, 'intruder'), server)).toMatch(/^rejected|closed/);
    expect(await handshake(ts, null, server)).toMatch(/^rejected|closed/);
  });

  it('after rotate-intermediate accepts clients under both the old and the new intermediate', async () => {
    const old = client(dir, 'acme');
    writeFileSync(join(dir, 'acme-old.crt'), old.cert);
    const r = ca(dir, ['rotate-intermediate', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const ts = read(dir, 'pki', 'truststore.pem');
    const fresh = client(dir, 'acme');
    expect(fresh.cert).not.toBe(old.cert);
    expect(await handshake(ts, fresh, server)).toBe('accepted');
    expect(await handshake(ts, old, server)).toBe('accepted');
    // and the old truststore (before the rotation) would not accept the new certificate: the order matters
    const oldTs = read(dir, 'pki', 'truststore-versions', '1.pem');
    expect(await handshake(oldTs, fresh, server)).toMatch(/^rejected|closed/);
  });
});
