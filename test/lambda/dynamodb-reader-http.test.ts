import { describe, it, expect, afterAll, afterEach, vi } from 'vitest';
import { createHash, createHmac } from 'node:crypto';
import { createServer as createHttpsServer } from 'node:https';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbGetItemReader, DynamoDbReadError } from '../../src/adapters/aws/dynamodb-reader.js';
import { cleanupAll, opensslOk, tempDir } from '../helpers/pki.js';

afterAll(cleanupAll);

/** One captured request. */
interface Seen {
  headers: IncomingHttpHeaders;
  body: string;
  socket: number;
}

/** A loopback server that records each request and answers with `answer` (default: an empty GetItem result). */
async function loopback(answer: (n: number, req: IncomingMessage, res: ServerResponse, body: string) => void = (_n, _q, res) => res.end('{}')) {
  const seen: Seen[] = [];
  const sockets = new WeakMap<object, number>();
  let connections = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    req.on('end', () => {
      if (!sockets.has(req.socket)) sockets.set(req.socket, ++connections);
      seen.push({ headers: req.headers, body, socket: sockets.get(req.socket)! });
      res.setHeader('content-type', 'application/x-amz-json-1.0');
      answer(seen.length, req, res, body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    seen,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}

const FIXED = new Date('2026-03-01T12:34:56.789Z');
const REGION = 'eu-west-1';
const TABLE = 'ca-registry-prod';
const SERIAL = '5f3a09c2e1';
const WITH_TOKEN = { accessKeyId: 'ASIAQEXAMPLE7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCWV1LXdlc3QtMSJHMEUCIQ+token=' };
const NO_TOKEN = { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY' };

/** The AWS SDK's own request for the GetItem, at FIXED, minus the headers only the SDK sends (user agent, retry bookkeeping). */
async function sdkRequest(srv: { endpoint: string; seen: Seen[] }, credentials: typeof WITH_TOKEN | typeof NO_TOKEN): Promise<Seen> {
  vi.useFakeTimers({ toFake: ['Date'], now: FIXED });
  try {
    const client = new DynamoDBClient({ region: REGION, endpoint: srv.endpoint, credentials, maxAttempts: 1 });
    client.middlewareStack.addRelativeTo(
      (next: any) => async (args: any) => {
        for (const h of ['user-agent', 'x-amz-user-agent', 'amz-sdk-invocation-id', 'amz-sdk-request']) delete args.request.headers[h];
        return next(args);
      },
      { name: 'dropSdkOnlyHeaders', relation: 'before', toMiddleware: 'httpSigningMiddleware' },
    );
    await client.send(new GetItemCommand({ TableName: TABLE, Key: { pk: { S: `CERT#${SERIAL}` } }, ConsistentRead: true }));
    client.destroy();
    return srv.seen.at(-1)!;
  } finally {
    vi.useRealTimers();
  }
}

async function ourRequest(srv: { endpoint: string; seen: Seen[] }, credentials: typeof WITH_TOKEN | typeof NO_TOKEN): Promise<Seen> {
  const reader = new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: srv.endpoint, credentials, timeoutMs: 2000, now: () => FIXED });
  expect(await reader.get(SERIAL)).toBeUndefined();
  return srv.seen.at(-1)!;
}

/** SigV4 recomputed from the AWS documentation with node:crypto alone, over the headers the request lists as signed. */
function sigV4ByHand(seen: Seen, secret: string): string {
  const auth = String(seen.headers.authorization);
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request, SignedHeaders=([^,]+), Signature=([0-9a-f]{64})$/.exec(auth);
  expect(m, auth).not.toBeNull();
  const [, , date, region, service, signedHeaders] = m!;
  const names = signedHeaders!.split(';');
  const hex = (s: string) => createHash('sha256').update(s).digest('hex');
  const canonical = ['POST', '/', '', ...names.map((n) => `${n}:${String(seen.headers[n]).trim()}`), '', signedHeaders, hex(seen.body)].join('\n');
  const amzDate = String(seen.headers['x-amz-date']);
  const scope = `${date}/${region}/${service}/aws4_request`;
  const toSign = ['AWS4-HMAC-SHA256', amzDate, scope, hex(canonical)].join('\n');
  const hmac = (key: string | Buffer, s: string) => createHmac('sha256', key).update(s).digest();
  const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, date!), region!), service!), 'aws4_request');
  return createHmac('sha256', key).update(toSign).digest('hex');
}

describe('the reader signs GetItem exactly as the AWS SDK does', () => {
  it.each([
    ['temporary credentials (Lambda role)', WITH_TOKEN],
    ['long-term credentials', NO_TOKEN],
  ])('%s: same Authorization, date, token and body as DynamoDBClient', async (_name, credentials) => {
    // one server for both, so the signed host header (with its port) is the same
    const srv = await loopback();
    let sdk: Seen, ours: Seen;
    try {
      sdk = await sdkRequest(srv, credentials);
      ours = await ourRequest(srv, credentials);
    } finally {
      await srv.close();
    }
    expect(sdk.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=\w+\/20260301\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=/);
    expect(ours.headers.authorization).toBe(sdk.headers.authorization);
    for (const h of ['x-amz-date', 'x-amz-security-token', 'x-amz-content-sha256', 'x-amz-target', 'content-type', 'content-length', 'host']) expect(ours.headers[h], h).toBe(sdk.headers[h]);
    expect(ours.body).toBe(sdk.body);
    expect(JSON.parse(ours.body)).toEqual({ TableName: TABLE, Key: { pk: { S: `CERT#${SERIAL}` } }, ConsistentRead: true });
    expect(ours.headers['x-amz-date']).toBe('20260301T123456Z');
    if ('sessionToken' in credentials) expect(ours.headers['x-amz-security-token']).toBe(credentials.sessionToken);
    else expect(ours.headers['x-amz-security-token']).toBeUndefined();
    // and both agree with the algorithm as documented, computed here without the signing library
    expect(String(ours.headers.authorization).endsWith(`Signature=${sigV4ByHand(ours, credentials.secretAccessKey)}`)).toBe(true);
  });
});

describe('the reader\'s signing key', () => {
  it('is derived again when the day changes, and every signature still verifies', async () => {
    const srv = await loopback();
    try {
      let now = new Date('2026-03-01T23:59:59.500Z');
      const reader = new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: srv.endpoint, credentials: WITH_TOKEN, timeoutMs: 2000, now: () => now });
      await reader.get(SERIAL);
      now = new Date('2026-03-02T00:00:00.100Z');
      await reader.get(SERIAL);
      expect(srv.seen.map((s) => s.headers['x-amz-date'])).toEqual(['20260301T235959Z', '20260302T000000Z']);
      expect(String(srv.seen[1]!.headers.authorization)).toContain('Credential=ASIAQEXAMPLE7EXAMPLE/20260302/eu-west-1/dynamodb/aws4_request');
      for (const seen of srv.seen) expect(String(seen.headers.authorization).endsWith(`Signature=${sigV4ByHand(seen, WITH_TOKEN.secretAccessKey)}`)).toBe(true);
    } finally {
      await srv.close();
    }
  });

  it('speaks TLS to an https endpoint and refuses a server certificate it cannot verify', async () => {
    const dir = tempDir('reader-tls');
    opensslOk(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-days', '1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')]);
    let requests = 0;
    const server = createHttpsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (_q, res) => (requests++, res.end('{}')));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const endpoint = `https://127.0.0.1:${(server.address() as { port: number }).port}`;
      const e = await new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint, credentials: NO_TOKEN, timeoutMs: 5000 }).get(SERIAL).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(DynamoDbReadError);
      expect((e as DynamoDbReadError).code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
      expect(requests).toBe(0);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('refuses an endpoint whose path would need URI-encoding to be signed', () => {
    expect(() => new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: 'https://example.com/a b%2F', credentials: NO_TOKEN, timeoutMs: 1000 })).toThrow(/path that is not plain ASCII/);
  });
});

describe('the reader over HTTP', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const reader = (endpoint: string, timeoutMs = 2000) => new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint, credentials: NO_TOKEN, timeoutMs });
  const item = { pk: { S: `CERT#${SERIAL}` }, serial: { S: SERIAL }, kind: { S: 'client' }, status: { S: 'revoked' }, extra: { N: '1' } };

  it('decodes the item and ignores attributes that are not record fields', async () => {
    const srv = await loopback((_n, _q, res) => res.end(JSON.stringify({ Item: item })));
    close = srv.close;
    expect(await reader(srv.endpoint).get(SERIAL)).toEqual({ serial: SERIAL, kind: 'client', status: 'revoked' });
  });

  it('keeps its connection alive across reads', async () => {
    const srv = await loopback((_n, _q, res) => res.end(JSON.stringify({ Item: item })));
    close = srv.close;
    const r = reader(srv.endpoint);
    for (let i = 0; i < 3; i++) await r.get(SERIAL);
    expect(srv.seen.map((s) => s.socket)).toEqual([1, 1, 1]);
    expect(srv.seen[0]!.headers.connection).toBe('keep-alive');
  });

  it('retries once, on a fresh connection, when a kept-alive connection was dropped', async () => {
    const srv = await loopback((n, req, res) => (n === 2 ? req.socket.destroy() : res.end(JSON.stringify({ Item: item }))));
    close = srv.close;
    const r = reader(srv.endpoint);
    await r.get(SERIAL);
    expect(await r.get(SERIAL)).toMatchObject({ serial: SERIAL });
    expect(srv.seen.map((s) => s.socket)).toEqual([1, 1, 2]);
  });

  it('retries a 5xx or throttling answer once, then fails', async () => {
    const fail500 = await loopback((n, _q, res) => {
      if (n === 1) res.writeHead(500).end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#InternalServerError', message: 'boom' }));
      else res.end(JSON.stringify({ Item: item }));
    });
    close = fail500.close;
    const attempts: string[] = [];
    const counted = new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: fail500.endpoint, credentials: NO_TOKEN, timeoutMs: 2000, onRequest: (op) => attempts.push(op) });
    expect(await counted.get(SERIAL)).toMatchObject({ serial: SERIAL });
    expect(fail500.seen).toHaveLength(2);
    expect(attempts).toEqual(['GetItem', 'GetItem']);
    await fail500.close();

    const throttled = await loopback((_n, _q, res) =>
      res.writeHead(400).end(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException', message: 'slow down' })),
    );
    close = throttled.close;
    const e = await reader(throttled.endpoint).get(SERIAL).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DynamoDbReadError);
    expect(e).toMatchObject({ code: 'ProvisionedThroughputExceededException', status: 400 });
    expect((e as Error).message).toBe(`failed to read from DynamoDB table ${TABLE}: ProvisionedThroughputExceededException: slow down (HTTP 400)`);
    expect(throttled.seen).toHaveLength(2);
  });

  it('does not retry a client error such as a denied or invalid request', async () => {
    const srv = await loopback((_n, _q, res) =>
      res.writeHead(400, { 'x-amzn-errortype': 'AccessDeniedException:http://internal.amazon.com/coral/com.amazon.coral.service/' }).end(JSON.stringify({ Message: 'not authorized to perform: dynamodb:GetItem' })),
    );
    close = srv.close;
    const e = await reader(srv.endpoint).get(SERIAL).catch((x: unknown) => x);
    expect(e).toMatchObject({ name: 'DynamoDbReadError', code: 'AccessDeniedException', status: 400 });
    expect((e as Error).message).toContain('not authorized to perform: dynamodb:GetItem');
    expect(srv.seen).toHaveLength(1);
  });

  it('refuses an answer that is not a GetItem result', async () => {
    const srv = await loopback((n, _q, res) => {
      if (n <= 1) res.end('<html>proxy</html>');
      else if (n === 2) res.end(JSON.stringify({ Item: 'x' }));
      else res.end(Buffer.alloc(2 << 20, 32));
    });
    close = srv.close;
    const r = reader(srv.endpoint);
    await expect(r.get(SERIAL)).rejects.toMatchObject({ code: 'InvalidResponse' });
    await expect(r.get(SERIAL)).rejects.toMatchObject({ code: 'InvalidResponse' });
    await expect(r.get(SERIAL)).rejects.toMatchObject({ code: 'InvalidResponse', message: expect.stringContaining('larger than') });
  });
  it('keeps the deadline on a monotonic clock: a wall clock stepped back before the retry does not stretch it', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      // the first attempt is dropped (retryable); while it is, NTP steps the wall clock back 60 s; the retry hangs
      const srv = await loopback((n, req) => {
        if (n === 1) {
          vi.setSystemTime(Date.now() - 60_000);
          req.socket.destroy();
        }
      });
      close = srv.close;
      await expect(reader(srv.endpoint, 300).get(SERIAL)).rejects.toMatchObject({ code: 'Timeout' });
      expect(srv.seen).toHaveLength(2);
    } finally {
      vi.useRealTimers();
    }
  }, 10_000);
});

describe('the reader opens its first connection ahead of the first read', () => {
  /** A server that counts TCP connections as they open, before any request, and answers every request `{}`. */
  async function counted(o: { dropFirst?: boolean } = {}) {
    let connections = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.end('{}'));
    });
    server.on('connection', (socket) => {
      connections++;
      if (o.dropFirst && connections === 1) socket.destroy();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    return {
      endpoint: `http://127.0.0.1:${(server.address() as { port: number }).port}`,
      connections: () => connections,
      close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
    };
  }
  const until = async (cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  };

  it('preconnect opens the connection before any read, and the first read uses it', async () => {
    const srv = await counted();
    try {
      const r = new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: srv.endpoint, credentials: NO_TOKEN, timeoutMs: 2000 });
      r.preconnect();
      await until(() => srv.connections() === 1);
      expect(srv.connections()).toBe(1);
      expect(await r.get(SERIAL)).toBeUndefined();
      expect(await r.get(SERIAL)).toBeUndefined();
      expect(srv.connections()).toBe(1);
    } finally {
      await srv.close();
    }
  });

  it('a preconnected connection that is dropped before use is replaced, and the read succeeds', async () => {
    const srv = await counted({ dropFirst: true });
    try {
      const r = new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: srv.endpoint, credentials: NO_TOKEN, timeoutMs: 2000 });
      r.preconnect();
      await until(() => srv.connections() === 1);
      await new Promise((res) => setTimeout(res, 50));
      expect(await r.get(SERIAL)).toBeUndefined();
      expect(srv.connections()).toBe(2);
    } finally {
      await srv.close();
    }
  });

  it('a preconnect to an endpoint that does not answer is harmless: the read fails as it would have, as a DynamoDbReadError', async () => {
    const srv = await counted();
    await srv.close();
    const r = new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: srv.endpoint, credentials: NO_TOKEN, timeoutMs: 1000 });
    r.preconnect();
    await new Promise((res) => setTimeout(res, 50));
    await expect(r.get(SERIAL)).rejects.toBeInstanceOf(DynamoDbReadError);
  });
});

// batchWhileConnecting (the mtls+token authorizer's cold start): reads asked for while the preconnected
// connection is in its handshake go out as one BatchGetItem. Plain http here, where the handshake is TCP's.
describe('the reader batches the reads asked for during its first handshake', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });
  const client = { pk: { S: `CERT#${SERIAL}` }, serial: { S: SERIAL }, kind: { S: 'client' }, status: { S: 'active' } };
  const jwks = { pk: { S: 'TOKEN#JWKS' }, jwks: { S: JSON.stringify({ keys: [{ kty: 'EC', kid: 'k1' }] }) } };
  const target = (s: Seen) => String(s.headers['x-amz-target']).split('.').pop();
  /** A stand-in answering GetItem and BatchGetItem from `items`; `batch` may shape the BatchGetItem answer. */
  const table = (items: Record<string, unknown>[], batch?: (keys: string[], res: ServerResponse) => boolean) =>
    loopback((_n, req, res, body) => {
      const q = JSON.parse(body) as { Key?: { pk: { S: string } }; RequestItems?: Record<string, { Keys: { pk: { S: string } }[]; ConsistentRead?: boolean }> };
      const byKey = (pk: string) => items.find((i) => (i as typeof client).pk.S === pk);
      if (String(req.headers['x-amz-target']).endsWith('.GetItem')) return res.end(JSON.stringify(byKey(q.Key!.pk.S) ? { Item: byKey(q.Key!.pk.S) } : {}));
      const keys = q.RequestItems![TABLE]!.Keys.map((k) => k.pk.S);
      if (batch?.(keys, res)) return;
      res.end(JSON.stringify({ Responses: { [TABLE]: keys.map(byKey).filter(Boolean) }, UnprocessedKeys: {} }));
    });
  /** The same stand-in, answering every BatchGetItem with this DynamoDB error. */
  const refusingBatches = (type: string, message: string) =>
    table([client, jwks], (_keys, res) => {
      res.writeHead(400).end(JSON.stringify({ __type: type, message }));
      return true;
    });
  const batching = (endpoint: string, ops: string[] = []) =>
    new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint, credentials: NO_TOKEN, timeoutMs: 2000, batchWhileConnecting: true, onRequest: (op) => ops.push(op) });

  it('the_key_set_and_the_first_record_asked_for_during_the_handshake_share_one_strongly_consistent_BatchGetItem', async () => {
    const srv = await table([client, jwks]);
    close = srv.close;
    const ops: string[] = [];
    const r = batching(srv.endpoint, ops);
    void r.preconnect();
    const settled: string[] = [];
    const keySetRead = r.tokenKeySet().then((k) => (settled.push('key set'), k));
    const [record, keySet, missing] = await Promise.all([r.get(SERIAL).then((x) => (settled.push('record'), x)), keySetRead, r.get('0abc')]);
    // asked for after the key set, the record is answered first: the read it leads to goes out before the key set's work
    expect(settled).toEqual(['record', 'key set']);
    expect(record).toEqual({ serial: SERIAL, kind: 'client', status: 'active' });
    expect(keySet).toEqual({ keys: [{ kty: 'EC', kid: 'k1' }] });
    expect(missing).toBeUndefined();
    expect(ops).toEqual(['BatchGetItem']);
    expect(srv.seen.map(target)).toEqual(['BatchGetItem']);
    expect(JSON.parse(srv.seen[0]!.body)).toEqual({ RequestItems: { [TABLE]: { Keys: [{ pk: { S: 'TOKEN#JWKS' } }, { pk: { S: `CERT#${SERIAL}` } }, { pk: { S: 'CERT#0abc' } }], ConsistentRead: true } } });
    expect(srv.seen[0]!.headers.authorization).toMatch(/^AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE\/\d{8}\/eu-west-1\/dynamodb\/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-content-sha256;x-amz-date;x-amz-target, Signature=[0-9a-f]{64}$/);
    // once the connection is ready, reads are GetItems again, on the same connection
    expect(await r.get(SERIAL)).toMatchObject({ serial: SERIAL });
    expect(srv.seen.map(target)).toEqual(['BatchGetItem', 'GetItem']);
    expect(srv.seen.map((s) => s.socket)).toEqual([1, 1]);
  });

  it('more_than_100_reads_during_the_handshake_go_out_in_batches_of_at_most_100_keys', async () => {
    const serials = Array.from({ length: 150 }, (_, i) => (0x1000 + i).toString(16));
    const srv = await table(serials.map((x) => ({ pk: { S: `CERT#${x}` }, serial: { S: x }, kind: { S: 'client' }, status: { S: 'active' } })));
    close = srv.close;
    const r = batching(srv.endpoint);
    void r.preconnect();
    const records = await Promise.all(serials.map((x) => r.get(x)));
    expect(records.map((x) => x?.serial)).toEqual(serials);
    expect(srv.seen.map(target)).toEqual(['BatchGetItem', 'BatchGetItem']);
    expect(srv.seen.map((x) => (JSON.parse(x.body) as { RequestItems: Record<string, { Keys: unknown[] }> }).RequestItems[TABLE]!.Keys.length).sort((a, b) => b - a)).toEqual([100, 50]);
  });

  it('one_read_during_the_handshake_is_a_GetItem_and_without_the_option_nothing_is_batched', async () => {
    const srv = await table([client, jwks]);
    close = srv.close;
    const r = batching(srv.endpoint);
    void r.preconnect();
    expect(await r.get(SERIAL)).toMatchObject({ serial: SERIAL });
    const plain = new DynamoDbGetItemReader({ tableName: TABLE, region: REGION, endpoint: srv.endpoint, credentials: NO_TOKEN, timeoutMs: 2000 });
    void plain.preconnect();
    await Promise.all([plain.get(SERIAL), plain.tokenKeySet()]);
    expect(srv.seen.map(target)).toEqual(['GetItem', 'GetItem', 'GetItem']);
  });

  it('keys_DynamoDB_leaves_unprocessed_are_read_again_one_by_one', async () => {
    const srv = await table([client, jwks], (keys, res) => {
      res.end(JSON.stringify({ Responses: { [TABLE]: [client] }, UnprocessedKeys: { [TABLE]: { Keys: [{ pk: { S: 'TOKEN#JWKS' } }], ConsistentRead: true } } }));
      return keys.length > 0;
    });
    close = srv.close;
    const r = batching(srv.endpoint);
    void r.preconnect();
    const [record, keySet] = await Promise.all([r.get(SERIAL), r.tokenKeySet()]);
    expect(record).toMatchObject({ serial: SERIAL });
    expect(keySet).toEqual({ keys: [{ kty: 'EC', kid: 'k1' }] });
    expect(srv.seen.map(target)).toEqual(['BatchGetItem', 'GetItem']);
    expect(JSON.parse(srv.seen[1]!.body)).toEqual({ TableName: TABLE, Key: { pk: { S: 'TOKEN#JWKS' } }, ConsistentRead: true });
  });

  it('a_role_without_BatchGetItem_falls_back_to_GetItem_for_good', async () => {
    const srv = await refusingBatches('com.amazon.coral.service#AccessDeniedException', 'not authorized to perform: dynamodb:BatchGetItem');
    close = srv.close;
    const r = batching(srv.endpoint);
    void r.preconnect();
    const [record, keySet] = await Promise.all([r.get(SERIAL), r.tokenKeySet()]);
    expect(record).toMatchObject({ serial: SERIAL });
    expect(keySet).toMatchObject({ keys: [{ kid: 'k1' }] });
    expect(srv.seen.map(target)).toEqual(['BatchGetItem', 'GetItem', 'GetItem']);
    // a later handshake (a dropped connection) does not try the batch again
    r.preconnect();
    await Promise.all([r.get(SERIAL), r.tokenKeySet()]);
    expect(srv.seen.map(target).slice(3)).toEqual(['GetItem', 'GetItem']);
  });

  it('a_failed_or_malformed_batch_fails_every_read_in_it_as_a_DynamoDbReadError', async () => {
    const failing = await refusingBatches('com.amazonaws.dynamodb.v20120810#ResourceNotFoundException', 'Requested resource not found');
    close = failing.close;
    let r = batching(failing.endpoint);
    void r.preconnect();
    const both = await Promise.allSettled([r.get(SERIAL), r.tokenKeySet()]);
    for (const b of both) expect(b).toMatchObject({ status: 'rejected', reason: { name: 'DynamoDbReadError', code: 'ResourceNotFoundException' } });
    expect(failing.seen).toHaveLength(1);
    await failing.close();

    // an item that was not asked for is no answer to this batch
    const stray = await table([client, jwks], (_keys, res) => {
      res.end(JSON.stringify({ Responses: { [TABLE]: [{ pk: { S: 'CERT#ffff' } }] } }));
      return true;
    });
    close = stray.close;
    r = batching(stray.endpoint);
    void r.preconnect();
    for (const b of await Promise.allSettled([r.get(SERIAL), r.tokenKeySet()])) expect(b).toMatchObject({ status: 'rejected', reason: { code: 'InvalidResponse', message: expect.stringContaining('not asked for') } });
  });
});
