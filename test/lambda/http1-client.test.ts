import { describe, it, expect, afterAll } from 'vitest';
import { createServer as createNetServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { Http1Client, Http1Error } from '../../src/adapters/aws/http1-client.js';
import { cleanupAll, loopbackServerPki, tempDir } from '../helpers/pki.js';

afterAll(cleanupAll);

/**
 * A raw TCP (or TLS) server: `answer` gets each request's bytes (one request per call, split on the request's own
 * Content-Length) and the socket, and writes whatever bytes the case needs. Records the connection of each request.
 */
async function raw(answer: (n: number, s: Socket, request: string) => void, tls?: { key: Buffer; cert: Buffer }) {
  const seen: { connection: number; request: string; resumed?: boolean }[] = [];
  let connections = 0;
  const onSocket = (s: Socket) => {
    const connection = ++connections;
    let buf = '';
    s.setEncoding('latin1');
    s.on('error', () => {});
    s.on('data', (d: string) => {
      buf += d;
      for (;;) {
        const end = buf.indexOf('\r\n\r\n');
        if (end < 0) return;
        const length = Number(/\r\ncontent-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
        if (buf.length < end + 4 + length) return;
        const request = buf.slice(0, end + 4 + length);
        buf = buf.slice(end + 4 + length);
        seen.push({ connection, request, ...(tls ? { resumed: (s as TLSSocket).isSessionReused() } : {}) });
        answer(seen.length, s, request);
      }
    });
  };
  const server = tls ? createTlsServer({ key: tls.key, cert: tls.cert }, onSocket) : createNetServer(onSocket);
  const open = new Set<Socket>();
  server.on(tls ? 'secureConnection' : 'connection', (s: Socket) => (open.add(s), s.on('close', () => open.delete(s))));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    origin: new URL(`${tls ? 'https' : 'http'}://127.0.0.1:${port}`),
    seen,
    connections: () => connections,
    dropAll: () => open.forEach((s) => s.destroy()),
    close: () => new Promise<void>((r) => (open.forEach((s) => s.destroy()), server.close(() => r()))),
  };
}

const ok = (body: string, extra = '') => `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${extra}\r\n${body}`;
const client = (origin: URL, o: { max?: number; connections?: number; ca?: string[] } = {}) => new Http1Client({ origin, maxResponseBytes: o.max ?? 4096, ...(o.connections ? { maxConnections: o.connections } : {}), ...(o.ca ? { ca: o.ca } : {}) });
const post = (c: Http1Client, body = '{"a":1}') => c.post('/', { host: 'example', 'x-amz-target': 'T' }, body).answer;

describe('the HTTP/1.1 client reads the answers AWS endpoints send', () => {
  it('sends exactly the given headers with its own length and keep-alive, and reads a Content-Length answer', async () => {
    const srv = await raw((_n, s) => s.write(ok('{"Item":{}}', 'X-Amzn-RequestId: r1\r\n')));
    try {
      const c = client(srv.origin);
      const a = await post(c, '{"é":1}');
      expect(a).toEqual({ status: 200, headers: { 'content-type': 'application/json', 'content-length': '11', 'x-amzn-requestid': 'r1' }, body: Buffer.from('{"Item":{}}') });
      // the body's bytes, not its characters, are counted
      expect(srv.seen[0]!.request).toBe('POST / HTTP/1.1\r\nhost: example\r\nx-amz-target: T\r\nContent-Length: 8\r\nConnection: keep-alive\r\n\r\n{"\xc3\xa9":1}');
      c.close();
    } finally {
      await srv.close();
    }
  });

  it('reads a chunked answer that arrives in pieces, trailers included, and reuses the connection', async () => {
    const srv = await raw((n, s) => {
      const parts = ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n', '5;ext=1\r\n{"a":', '\r\n', '2\r\n', `${n}}\r`, '\n0\r\nX-Trailer: t\r\n\r\n'];
      let i = 0;
      const next = () => (s.write(parts[i++]!), i < parts.length && setTimeout(next, 2));
      next();
    });
    try {
      const c = client(srv.origin);
      expect((await post(c)).body.toString()).toBe('{"a":1}');
      expect((await post(c)).body.toString()).toBe('{"a":2}');
      expect(srv.seen.map((s) => s.connection)).toEqual([1, 1]);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it('skips an interim 100 Continue and reads the answer after it', async () => {
    const srv = await raw((_n, s) => s.write('HTTP/1.1 100 Continue\r\n\r\n' + ok('{}')));
    try {
      const c = client(srv.origin);
      expect(await post(c)).toMatchObject({ status: 200, body: Buffer.from('{}') });
      c.close();
    } finally {
      await srv.close();
    }
  });

  it('does not reuse a connection the server closes (Connection: close), nor one framed by its end', async () => {
    const srv = await raw((n, s) => {
      if (n === 1) s.write(ok('{"n":1}', 'Connection: close\r\n'));
      else if (n === 2) s.end('HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n\r\n{"n":2}');
      else s.write(ok('{"n":3}'));
    });
    try {
      const c = client(srv.origin);
      expect((await post(c)).body.toString()).toBe('{"n":1}');
      expect(await post(c)).toMatchObject({ status: 500, body: Buffer.from('{"n":2}') });
      expect((await post(c)).body.toString()).toBe('{"n":3}');
      expect(srv.seen.map((s) => s.connection)).toEqual([1, 2, 3]);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it('refuses an oversized answer, by its Content-Length or as it streams, and a malformed one, as not worth retrying', async () => {
    const srv = await raw((n, s) => {
      if (n === 1) s.write('HTTP/1.1 200 OK\r\nContent-Length: 999999\r\n\r\n');
      else if (n === 2) s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n' + 'ffff\r\n' + 'x'.repeat(5000));
      else if (n === 3) s.write('<html>proxy</html>\r\n\r\n');
      else if (n === 4) s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n');
      else s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n');
    });
    try {
      const c = client(srv.origin);
      const errors = [];
      for (let i = 0; i < 5; i++) errors.push(await post(c).catch((e: unknown) => e));
      expect(errors.map((e) => e instanceof Http1Error && [e.code, e.retryable])).toEqual([
        ['TooLarge', false],
        ['TooLarge', false],
        ['InvalidResponse', false],
        ['InvalidResponse', false],
        ['InvalidResponse', false],
      ]);
      // each broken connection was dropped: every request came on a new one
      expect(srv.seen.map((s) => s.connection)).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await srv.close();
    }
  });

  it('fails a request whose connection closes before the whole answer came, as worth retrying', async () => {
    const srv = await raw((_n, s) => s.end('HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{"partial"'));
    try {
      const e = await post(client(srv.origin)).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(Http1Error);
      expect(e).toMatchObject({ code: 'ECONNRESET', retryable: true });
    } finally {
      await srv.close();
    }
  });

  it('refuses a header or path that is not one line of plain ASCII before sending anything', async () => {
    const srv = await raw((_n, s) => s.write(ok('{}')));
    try {
      const c = client(srv.origin);
      expect(() => c.post('/', { host: 'example', 'x-amz-security-token': 'abc\r\nX-Injected: 1' }, '{}')).toThrow(/not one line of plain ASCII/);
      expect(() => c.post('/', { 'bad name': 'v' }, '{}')).toThrow(/not one line of plain ASCII/);
      expect(() => c.post('/a b', { host: 'example' }, '{}')).toThrow(/not plain ASCII/);
      expect(srv.connections()).toBe(0);
    } finally {
      await srv.close();
    }
  });
});

describe('the HTTP/1.1 client keeps its connections', () => {
  it('with one connection allowed, queues concurrent requests on it in order', async () => {
    const srv = await raw((n, s) => setTimeout(() => s.write(ok(`{"n":${n}}`)), 5));
    try {
      const c = client(srv.origin, { connections: 1 });
      const bodies = await Promise.all([post(c, '1'), post(c, '2'), post(c, '3')]);
      expect(bodies.map((b) => b.body.toString())).toEqual(['{"n":1}', '{"n":2}', '{"n":3}']);
      expect(srv.seen.map((s) => [s.connection, s.request.slice(-1)])).toEqual([
        [1, '1'],
        [1, '2'],
        [1, '3'],
      ]);
      c.close();
    } finally {
      await srv.close();
    }
  });

  it('abandons a request without an answer (its connection is destroyed) and one still waiting for a connection (never sent)', async () => {
    const srv = await raw(() => {});
    try {
      const c = client(srv.origin, { connections: 1 });
      const first = c.post('/', { host: 'example' }, '1');
      const second = c.post('/', { host: 'example' }, '2');
      await new Promise((r) => setTimeout(r, 20));
      second.abandon();
      first.abandon();
      await expect(second.answer).rejects.toMatchObject({ code: 'Abandoned', retryable: false });
      await expect(first.answer).rejects.toMatchObject({ code: 'Abandoned', retryable: false });
      expect(srv.seen.map((s) => s.request.slice(-1))).toEqual(['1']);
    } finally {
      await srv.close();
    }
  });

  it('preconnect opens the connection the first request uses, resolves once it is up, and never rejects', async () => {
    const srv = await raw((_n, s) => s.write(ok('{}')));
    try {
      const c = client(srv.origin, { connections: 1 });
      await c.preconnect(2000);
      expect(srv.connections()).toBe(1);
      await post(c);
      expect(srv.seen.map((s) => s.connection)).toEqual([1]);
      c.close();
    } finally {
      await srv.close();
    }
    // nothing listens any more: preconnect resolves (the connection failed), and a request fails as it would have
    const c = client(srv.origin);
    await expect(c.preconnect(2000)).resolves.toBeUndefined();
    await expect(post(c)).rejects.toMatchObject({ code: 'ECONNREFUSED', retryable: true });
  });

  describe('over TLS', () => {
    const { key, cert, root } = loopbackServerPki(tempDir('http1-tls'));
    const tls = { key, cert };

    it('resumes the TLS session when a dropped connection is replaced', async () => {
      const srv = await raw((_n, s) => s.write(ok('{}')), tls);
      try {
        const c = client(srv.origin, { ca: [root] });
        await post(c);
        // the server drops every connection, as one kept alive across a Lambda freeze is
        await new Promise((r) => setTimeout(r, 20));
        srv.dropAll();
        await new Promise((r) => setTimeout(r, 20));
        await post(c);
        expect(srv.seen.map((s) => [s.connection, s.resumed])).toEqual([
          [1, false],
          [2, true],
        ]);
        c.close();
      } finally {
        await srv.close();
      }
    });

    it('refuses a server its roots do not vouch for, as not worth retrying, and sends nothing', async () => {
      const srv = await raw((_n, s) => s.write(ok('{}')), tls);
      try {
        const e = await post(client(srv.origin, { ca: [tls.cert.toString()] })).catch((x: unknown) => x);
        expect(e).toBeInstanceOf(Http1Error);
        expect((e as Http1Error).retryable).toBe(false);
        expect((e as Http1Error).code).toMatch(/UNABLE_TO|CERT|SELF_SIGNED/);
        expect(srv.seen).toHaveLength(0);
      } finally {
        await srv.close();
      }
    });
  });
});
