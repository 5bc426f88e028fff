import { describe, it, expect, afterAll } from 'vitest';
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { AMAZON_TRUST_SERVICES_ROOTS } from '../../src/adapters/aws/amazon-roots.js';
import { DynamoDbGetItemReader, DynamoDbReadError, getItemReaderEnv, registryTrustedRoots } from '../../src/adapters/aws/dynamodb-reader.js';
import { cleanupAll, loopbackServerPki, opensslOk, tempDir } from '../helpers/pki.js';

afterAll(cleanupAll);

/**
 * SHA-256 fingerprints of the five roots, as `openssl x509 -noout -fingerprint -sha256` prints them for Debian's
 * copies in /etc/ssl/certs (ca-certificates), the same values amazontrust.com publishes for them.
 */
const EXPECTED: Record<string, { file: string; sha256: string }> = {
  'Amazon Root CA 1': { file: 'Amazon_Root_CA_1.pem', sha256: '8E:CD:E6:88:4F:3D:87:B1:12:5B:A3:1A:C3:FC:B1:3D:70:16:DE:7F:57:CC:90:4F:E1:CB:97:C6:AE:98:19:6E' },
  'Amazon Root CA 2': { file: 'Amazon_Root_CA_2.pem', sha256: '1B:A5:B2:AA:8C:65:40:1A:82:96:01:18:F8:0B:EC:4F:62:30:4D:83:CE:C4:71:3A:19:C3:9C:01:1E:A4:6D:B4' },
  'Amazon Root CA 3': { file: 'Amazon_Root_CA_3.pem', sha256: '18:CE:6C:FE:7B:F1:4E:60:B2:E3:47:B8:DF:E8:68:CB:31:D0:2E:BB:3A:DA:27:15:69:F5:03:43:B4:6D:B3:A4' },
  'Amazon Root CA 4': { file: 'Amazon_Root_CA_4.pem', sha256: 'E3:5D:28:41:9E:D0:20:25:CF:A6:90:38:CD:62:39:62:45:8D:A5:C6:95:FB:DE:A3:C2:2B:0B:FB:25:89:70:92' },
  'Starfield Services Root Certificate Authority - G2': {
    file: 'Starfield_Services_Root_Certificate_Authority_-_G2.pem',
    sha256: '56:8D:69:05:A2:C8:87:08:A4:B3:02:51:90:ED:CF:ED:B1:97:4A:60:6A:13:C6:E5:29:0F:CB:2A:E6:3E:DA:B5',
  },
};

describe('the embedded Amazon Trust Services roots', () => {
  it('are exactly the five roots AWS documents, each a self-signed CA certificate with the published fingerprint', () => {
    expect(AMAZON_TRUST_SERVICES_ROOTS.map((r) => r.name).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const { name, pem } of AMAZON_TRUST_SERVICES_ROOTS) {
      const x = new X509Certificate(pem);
      expect(x.ca, name).toBe(true);
      expect(x.subject, name).toContain(`CN=${name}`);
      expect(x.subject, name).toBe(x.issuer);
      expect(x.verify(x.publicKey), name).toBe(true);
      expect(x.fingerprint256, name).toBe(EXPECTED[name]!.sha256);
      expect(new Date(x.validTo).getTime(), name).toBeGreaterThan(Date.parse('2037-01-01'));
    }
  });

  it('equal, byte for byte, the copies OpenSSL reads from /etc/ssl/certs (when the system has them)', (ctx) => {
    const files = Object.values(EXPECTED).map((e) => join('/etc/ssl/certs', e.file));
    if (!files.every((f) => existsSync(f))) ctx.skip();
    for (const { name, pem } of AMAZON_TRUST_SERVICES_ROOTS) {
      const file = join('/etc/ssl/certs', EXPECTED[name]!.file);
      // openssl, not Node, reads the system's file: an independent parser of the same certificate
      expect(opensslOk(['x509', '-in', file, '-noout', '-fingerprint', '-sha256']).trim(), name).toBe(`sha256 Fingerprint=${EXPECTED[name]!.sha256}`);
      expect(opensslOk(['x509', '-in', file, '-outform', 'DER']).length).toBeGreaterThan(0);
      expect(new X509Certificate(pem).raw.equals(new X509Certificate(readFileSync(file)).raw), name).toBe(true);
    }
  });
});

/** A test root, and a server certificate for 127.0.0.1 it issued (both by openssl). */
async function listen(pki: ReturnType<typeof loopbackServerPki>) {
  let requests = 0;
  let handshakes = 0;
  const server: Server = createHttpsServer({ key: pki.key, cert: pki.cert }, (_q, res) => (requests++, res.setHeader('content-type', 'application/x-amz-json-1.0'), res.end('{}')));
  server.on('secureConnection', (_s: TLSSocket) => handshakes++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    endpoint: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    requests: () => requests,
    handshakes: () => handshakes,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const CREDS = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };
const reader = (endpoint: string, trustedRoots?: readonly string[]) => new DynamoDbGetItemReader({ tableName: 't', region: 'eu-west-1', endpoint, credentials: CREDS, timeoutMs: 5000, ...(trustedRoots ? { trustedRoots } : {}) });

describe("the authorizer's HTTPS registry connection", () => {
  const pki = loopbackServerPki(tempDir('registry-tls'));

  it('accepts a server whose chain ends in a root it is configured to trust (CA_REGISTRY_TLS_ROOTS=<file>), over one preconnected TLS connection', async () => {
    const srv = await listen(pki);
    try {
      const env = { AWS_ACCESS_KEY_ID: CREDS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDS.secretAccessKey, AWS_ENDPOINT_URL: srv.endpoint, CA_REGISTRY_TLS_ROOTS: pki.rootFile };
      const o = getItemReaderEnv(env, 'eu-west-1');
      expect(o.trustedRoots).toEqual([pki.root.trim()]);
      const r = new DynamoDbGetItemReader({ tableName: 't', region: 'eu-west-1', ...o, timeoutMs: 5000 });
      r.preconnect();
      expect(await r.get('5f3a09c2e1')).toBeUndefined();
      expect(await r.get('5f3a09c2e1')).toBeUndefined();
      expect(srv.requests()).toBe(2);
      expect(srv.handshakes()).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('refuses the same server with the Amazon roots, and with Node default store: no request is sent', async () => {
    const srv = await listen(pki);
    try {
      for (const roots of [AMAZON_TRUST_SERVICES_ROOTS.map((x) => x.pem), undefined]) {
        const e = await reader(srv.endpoint, roots).get('5f3a09c2e1').catch((x: unknown) => x);
        expect(e).toBeInstanceOf(DynamoDbReadError);
        // OpenSSL's verdict on a leaf whose issuer is in no trusted store
        expect((e as DynamoDbReadError).code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
      }
      expect(srv.requests()).toBe(0);
    } finally {
      await srv.close();
    }
  });

  it('refuses a server certificate for another name even when its root is trusted', async () => {
    const srv = await listen(pki);
    try {
      // same server, reached as "localhost": the certificate names only 127.0.0.1
      const e = await reader(srv.endpoint.replace('127.0.0.1', 'localhost'), [pki.root]).get('5f3a09c2e1').catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DynamoDbReadError);
      expect((e as DynamoDbReadError).code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
      expect(srv.requests()).toBe(0);
    } finally {
      await srv.close();
    }
  });
});

describe('CA_REGISTRY_TLS_ROOTS', () => {
  const dir = tempDir('registry-tls-env');
  const amazon = AMAZON_TRUST_SERVICES_ROOTS.map((r) => r.pem);

  it('defaults to the Amazon roots for an endpoint under amazonaws.com, and to Node default store elsewhere', () => {
    expect(registryTrustedRoots({}, 'https://dynamodb.eu-west-1.amazonaws.com')).toEqual(amazon);
    expect(registryTrustedRoots({}, 'https://vpce-0a1b-x.dynamodb.eu-west-1.vpce.amazonaws.com')).toEqual(amazon);
    expect(registryTrustedRoots({}, 'https://dynamodb.cn-north-1.amazonaws.com.cn')).toBeUndefined();
    expect(registryTrustedRoots({}, 'https://127.0.0.1:8443')).toBeUndefined();
    expect(registryTrustedRoots({ CA_REGISTRY_TLS_ROOTS: 'amazon' }, 'https://127.0.0.1:8443')).toEqual(amazon);
    expect(registryTrustedRoots({ CA_REGISTRY_TLS_ROOTS: ' system ' }, 'https://dynamodb.eu-west-1.amazonaws.com')).toBeUndefined();
  });

  it('adds the certificates of NODE_EXTRA_CA_CERTS to the Amazon roots or a file, as Node adds them to its own store', () => {
    const pki = loopbackServerPki(dir);
    expect(registryTrustedRoots({ NODE_EXTRA_CA_CERTS: pki.rootFile }, 'https://dynamodb.eu-west-1.amazonaws.com')).toEqual([...amazon, pki.root.trim()]);
    // with `system`, Node itself reads NODE_EXTRA_CA_CERTS
    expect(registryTrustedRoots({ NODE_EXTRA_CA_CERTS: pki.rootFile, CA_REGISTRY_TLS_ROOTS: 'system' }, 'https://dynamodb.eu-west-1.amazonaws.com')).toBeUndefined();
  });

  it('refuses an unknown value, an unreadable file and a file without certificates, naming the variable', () => {
    const empty = join(dir, 'empty.pem');
    writeFileSync(empty, 'not a certificate\n');
    expect(() => registryTrustedRoots({ CA_REGISTRY_TLS_ROOTS: 'mozilla' }, 'https://x.amazonaws.com')).toThrow(/CA_REGISTRY_TLS_ROOTS "mozilla" is not amazon, system or an absolute path/);
    expect(() => registryTrustedRoots({ CA_REGISTRY_TLS_ROOTS: join(dir, 'missing.pem') }, 'https://x.amazonaws.com')).toThrow(/CA_REGISTRY_TLS_ROOTS: failed to read .*missing\.pem/);
    expect(() => registryTrustedRoots({ CA_REGISTRY_TLS_ROOTS: empty }, 'https://x.amazonaws.com')).toThrow(/CA_REGISTRY_TLS_ROOTS: .*empty\.pem holds no PEM certificate/);
    expect(() => registryTrustedRoots({ NODE_EXTRA_CA_CERTS: empty }, 'https://x.amazonaws.com')).toThrow(/NODE_EXTRA_CA_CERTS: .*holds no PEM certificate/);
  });
});
