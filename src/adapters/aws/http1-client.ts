/**
 * A small HTTP/1.1 client for the Lambda bundles' signed JSON POSTs (DynamoDB GetItem, Secrets Manager, SSM),
 * straight over node:tls (or node:net for a local http:// endpoint), keep-alive, without node:http/node:https.
 *
 * Why not node:https (measured, and the bench row "registry transport alone" keeps measuring it): loading
 * node:https pulls in node:http's agent, client, parser and message modules beside node:tls. On the bench VM
 * (Node 20, 2 vCPUs) `require('node:https')` costs ~7-9 ms of a fresh process against ~4.5-5 ms for
 * `require('node:tls')`, and the bench's cold process doing two POSTs over one HTTPS connection took +22.2 ms
 * over `node -e 0` with this client against +25.9 ms with node:https (0.86x; 0.80-0.90x in five of six full runs,
 * 1.04x in a noisy one); the authorizer's cold-start target
 * (+40 ms over `node -e 0`) has little room. node:tls also loads synchronously, so the connection to DynamoDB
 * is opened during module initialisation, not after a dynamic import resolves. What it reads are the small
 * JSON answers of AWS endpoints: a status line, headers, a body framed by Content-Length, chunked encoding or
 * the end of the connection; nothing else of HTTP (no redirects, no compression, no pipelining).
 */
import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';

export interface Http1Answer {
  status: number;
  /** lower-cased names; a repeated header keeps its first value */
  headers: Record<string, string>;
  body: Buffer;
}

/** A failed exchange: `code` is the socket's error code (`ECONNRESET`, `CERT_HAS_EXPIRED`, …) or one of ours. */
export class Http1Error extends Error {
  override name = 'Http1Error';

  constructor(
    message: string,
    readonly code: string,
    /** true when the request may not have reached the server or the connection broke: worth one more attempt */
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

export interface Http1ClientOptions {
  /** `https://host[:port]` or `http://host[:port]`; the path is the request's */
  origin: URL;
  /** PEM roots the server's chain must end in (TLS `ca`); absent: Node's default store */
  ca?: readonly string[];
  /** an answer larger than this (headers and body) fails with code `TooLarge` */
  maxResponseBytes: number;
  /** connections open at once (one request each); more requests wait for one to free. Default 4. */
  maxConnections?: number;
}

const MAX_HEADER_BYTES = 16 * 1024;
const HEADER_NAME = /^[!#$%&'*+.^`|~\w-]+$/;
const HEADER_VALUE = /^[\x20-\x7e]*$/;

interface Pending {
  head: string;
  body: Buffer;
  resolve: (a: Http1Answer) => void;
  reject: (e: Http1Error) => void;
  /** the connection it was given, once given */
  socket?: Socket;
  abandoned?: boolean;
}

/**
 * One origin, a few kept-alive connections. A request on a connection that turns out to be closed (a keep-alive
 * connection dropped while Lambda was frozen) fails with a retryable error; the caller retries, on a new one.
 * TLS sessions are kept, so a reconnection resumes the session instead of a full handshake.
 */
export class Http1Client {
  private readonly host: string;
  private readonly port: number;
  private readonly tls: boolean;
  /** connections without a request: connected, or still connecting (a request written now waits for the handshake) */
  private readonly idle: Socket[] = [];
  private readonly waiting: Pending[] = [];
  private open = 0;
  private session?: Buffer;
  /** the preconnected connection's handshake (TLS, or TCP for http://), until it ends either way */
  private warming?: Promise<void>;
  private readonly maxConnections: number;

  /** @throws Error on an origin that is not http(s) */
  constructor(private readonly o: Http1ClientOptions) {
    if (o.origin.protocol !== 'https:' && o.origin.protocol !== 'http:') throw new Error(`${o.origin.href} is not an http(s) URL`);
    this.tls = o.origin.protocol === 'https:';
    // URL keeps IPv6 hosts in brackets, which connect() does not take
    this.host = o.origin.hostname.replace(/^\[(.*)\]$/, '$1');
    this.port = Number(o.origin.port) || (this.tls ? 443 : 80);
    this.maxConnections = o.maxConnections ?? 4;
  }

  /**
   * Opens a connection now (TCP, then the TLS handshake) for the first request to use: the handshake overlaps
   * whatever runs until then. Resolves once the TCP connection is up (the TLS client hello is sent as it comes
   * up), or failed, or after `waitMs`, whichever is first; never rejects, never throws. A connection that fails
   * is dropped and a request opens its own.
   */
  preconnect(waitMs = 0): Promise<void> {
    if (this.open >= this.maxConnections) return Promise.resolve();
    const s = this.connect();
    this.park(s);
    const ready = this.tls ? 'secureConnect' : 'connect';
    const warming: Promise<void> = new Promise<void>((resolve) => {
      const done = () => {
        s.off(ready, done).off('close', done);
        if (this.warming === warming) this.warming = undefined;
        resolve();
      };
      s.once(ready, done).once('close', done);
    });
    this.warming = warming;
    if (!(waitMs > 0)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(done, waitMs);
      timer.unref();
      function done() {
        clearTimeout(timer);
        s.off('connect', done).off('close', done);
        resolve();
      }
      s.once('connect', done).once('close', done);
    });
  }

  /**
   * Sends `POST path` with exactly these headers (Host among them, as signed; Content-Length and Connection are
   * this client's) and body; the answer, of any status, or an Http1Error on a network or TLS failure, a malformed
   * or oversized answer. `abandon` destroys the request's connection (a deadline passed).
   * @throws Error on a path or header that would not be one line of plain ASCII
   */
  post(path: string, headers: Record<string, string>, body: Buffer | string): { answer: Promise<Http1Answer>; abandon: () => void } {
    if (!/^\/[\x21-\x7e]*$/.test(path)) throw new Error(`request path ${JSON.stringify(path)} is not plain ASCII`);
    const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
    let head = `POST ${path} HTTP/1.1\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (!HEADER_NAME.test(k) || !HEADER_VALUE.test(v)) throw new Error(`header ${JSON.stringify(k)} is not one line of plain ASCII`);
      const lower = k.toLowerCase();
      if (lower !== 'content-length' && lower !== 'connection') head += `${k}: ${v}\r\n`;
    }
    head += `Content-Length: ${bytes.length}\r\nConnection: keep-alive\r\n\r\n`;
    let job!: Pending;
    const answer = new Promise<Http1Answer>((resolve, reject) => {
      job = { head, body: bytes, resolve, reject };
    });
    const s = this.take();
    if (s) this.exchange(s, job);
    else this.waiting.push(job);
    return {
      answer,
      abandon: () => {
        job.abandoned = true;
        job.socket?.destroy();
        const i = this.waiting.indexOf(job);
        if (i >= 0) {
          this.waiting.splice(i, 1);
          job.reject(new Http1Error('abandoned before a connection was free', 'Abandoned', false));
        }
      },
    };
  }

  /**
   * While the connection `preconnect` opened is still in its handshake: a promise that resolves when the
   * handshake ends (the connection is ready, or closed); otherwise undefined. A request posted now would wait
   * for that moment anyway, so a caller may gather what it would send until then (DynamoDbGetItemReader batches).
   */
  handshaking(): Promise<void> | undefined {
    return this.warming;
  }

  /** Closes every idle connection. */
  close(): void {
    for (const s of this.idle.splice(0)) s.destroy();
  }

  private connect(): Socket {
    this.open++;
    const servername = isIP(this.host) ? undefined : this.host;
    const s: Socket = this.tls
      ? tlsConnect({ host: this.host, port: this.port, ...(servername ? { servername } : {}), ...(this.o.ca ? { ca: this.o.ca as string[] } : {}), ...(this.session ? { session: this.session } : {}) })
      : netConnect({ host: this.host, port: this.port });
    s.setNoDelay(true);
    if (this.tls) (s as TLSSocket).on('session', (session: Buffer) => (this.session = session));
    // errors are read by the exchange that owns the socket; an idle one is just dropped
    s.on('error', () => {});
    s.once('close', () => {
      this.open--;
      const i = this.idle.indexOf(s);
      if (i >= 0) this.idle.splice(i, 1);
      const job = this.waiting.length && this.open < this.maxConnections ? this.waiting.shift() : undefined;
      if (job) this.exchange(this.connect(), job);
    });
    return s;
  }

  /** An idle connection (the newest first), or a new one while fewer than maxConnections are open; undefined: wait. */
  private take(): Socket | undefined {
    for (let s = this.idle.pop(); s; s = this.idle.pop()) if (!s.destroyed) return s;
    return this.open < this.maxConnections ? this.connect() : undefined;
  }

  /** A connection without a request goes to the next waiting request, else into the pool (not keeping the process alive). */
  private park(s: Socket): void {
    if (s.destroyed) return;
    const job = this.waiting.shift();
    if (job) this.exchange(s, job);
    else {
      s.unref();
      this.idle.push(s);
    }
  }

  private exchange(s: Socket, job: Pending): void {
    job.socket = s;
    s.ref();
    const reader = new AnswerReader(this.o.maxResponseBytes);
    let done = false;
    let failure: (Error & { code?: string }) | undefined;
    const finish = (e: Http1Error | undefined, a?: Http1Answer) => {
      if (done) return;
      done = true;
      s.off('data', onData).off('error', onError).off('end', onEnd).off('close', onClose);
      if (e) {
        s.destroy();
        job.reject(e);
        return;
      }
      if (reader.keepAlive) this.park(s);
      else s.destroy();
      job.resolve(a!);
    };
    const onData = (chunk: Buffer) => {
      try {
        const a = reader.push(chunk);
        if (a) finish(undefined, a);
      } catch (e) {
        finish(e as Http1Error);
      }
    };
    const onError = (e: Error & { code?: string }) => (failure ??= e);
    const onEnd = () => {
      const a = reader.end();
      if (a) finish(undefined, a);
    };
    const onClose = () => {
      const e = failure;
      // a refused server certificate is no reason to try again; a reset or a closed connection is
      const refused = e !== undefined && /CERT|SELF_SIGNED|HOSTNAME|UNABLE_TO|ERR_TLS/.test(e.code ?? '');
      const why = job.abandoned ? 'abandoned' : e ? e.message : 'the connection closed before the answer was complete';
      finish(new Http1Error(why, job.abandoned ? 'Abandoned' : (e?.code ?? 'ECONNRESET'), !refused && !job.abandoned));
    };
    s.on('data', onData).on('error', onError).on('end', onEnd).once('close', onClose);
    // taken from the pool after it closed, before its 'close' came: as if it had closed under the request
    if (s.destroyed) return finish(new Http1Error('the kept-alive connection had closed', 'ECONNRESET', true));
    s.write(Buffer.concat([Buffer.from(job.head, 'latin1'), job.body]));
  }
}

/**
 * Reads one HTTP/1.1 answer from the bytes of a connection: interim 1xx answers skipped, the body framed by
 * Content-Length, chunked Transfer-Encoding (trailers ignored) or, with neither, the end of the connection.
 */
class AnswerReader {
  private buf: Buffer = Buffer.alloc(0);
  private total = 0;
  private status = 0;
  private headers: Record<string, string> | undefined;
  private length: number | undefined;
  private chunked = false;
  private readonly chunks: Buffer[] = [];
  keepAlive = true;

  constructor(private readonly max: number) {}

  /** @returns the answer once complete. @throws Http1Error on a malformed or oversized answer */
  push(chunk: Buffer): Http1Answer | undefined {
    this.total += chunk.length;
    if (this.total > this.max) throw new Http1Error(`answer larger than ${this.max} bytes`, 'TooLarge', false);
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    for (;;) {
      if (!this.headers) {
        const end = this.buf.indexOf('\r\n\r\n');
        if (end < 0) {
          if (this.buf.length > MAX_HEADER_BYTES) throw new Http1Error('answer headers too long', 'InvalidResponse', false);
          return undefined;
        }
        this.head(this.buf.subarray(0, end).toString('latin1'));
        this.buf = this.buf.subarray(end + 4);
        if (!this.headers) continue; // a 1xx answer: the real one follows
      }
      return this.body();
    }
  }

  /** The connection ended: an answer framed by it is complete now. */
  end(): Http1Answer | undefined {
    if (!this.headers || this.chunked || this.length !== undefined) return undefined;
    this.keepAlive = false;
    this.chunks.push(this.buf);
    return { status: this.status, headers: this.headers, body: Buffer.concat(this.chunks) };
  }

  private head(text: string): void {
    const [statusLine, ...lines] = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(statusLine!);
    if (!m) throw new Http1Error(`not an HTTP/1.1 answer: ${JSON.stringify(statusLine!.slice(0, 40))}`, 'InvalidResponse', false);
    const status = Number(m[2]);
    if (status >= 100 && status < 200) return;
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const i = line.indexOf(':');
      if (i <= 0) throw new Http1Error('malformed answer header', 'InvalidResponse', false);
      const name = line.slice(0, i).trim().toLowerCase();
      headers[name] ??= line.slice(i + 1).trim();
    }
    this.status = status;
    this.headers = headers;
    const te = headers['transfer-encoding']?.toLowerCase();
    if (te !== undefined) {
      if (te !== 'chunked') throw new Http1Error(`unsupported transfer encoding ${te}`, 'InvalidResponse', false);
      this.chunked = true;
    } else if (headers['content-length'] !== undefined) {
      if (!/^\d{1,12}$/.test(headers['content-length'])) throw new Http1Error('malformed Content-Length', 'InvalidResponse', false);
      this.length = Number(headers['content-length']);
      if (this.length > this.max) throw new Http1Error(`answer larger than ${this.max} bytes`, 'TooLarge', false);
    } else if (status === 204 || status === 304) this.length = 0;
    const connection = headers.connection?.toLowerCase();
    this.keepAlive = m[1] === '1' ? connection !== 'close' : connection === 'keep-alive';
  }

  private body(): Http1Answer | undefined {
    const answer = () => ({ status: this.status, headers: this.headers!, body: this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks) });
    if (this.length !== undefined) {
      if (this.buf.length < this.length) return undefined;
      if (this.buf.length > this.length) this.keepAlive = false; // bytes we did not ask for: do not reuse
      this.chunks.push(this.buf.subarray(0, this.length));
      return answer();
    }
    if (!this.chunked) {
      // framed by the end of the connection
      return undefined;
    }
    for (;;) {
      const eol = this.buf.indexOf('\r\n');
      if (eol < 0) return undefined;
      const hex = this.buf.subarray(0, eol).toString('latin1').split(';')[0]!.trim();
      if (!/^[0-9a-fA-F]{1,8}$/.test(hex)) throw new Http1Error('malformed chunk size', 'InvalidResponse', false);
      const size = parseInt(hex, 16);
      // the last chunk, then trailers (ignored) up to an empty line
      if (size === 0) return this.buf.indexOf('\r\n\r\n', eol) < 0 ? undefined : answer();
      if (this.buf.length < eol + 2 + size + 2) return undefined;
      this.chunks.push(this.buf.subarray(eol + 2, eol + 2 + size));
      this.buf = this.buf.subarray(eol + 2 + size + 2);
    }
  }
}
