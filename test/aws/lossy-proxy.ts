import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the proxy handled. */
export interface ProxiedRequest {
  /** X-Amz-Target without the service prefix, e.g. `TransactWriteItems` */
  operation: string;
  /** ClientRequestToken of a TransactWriteItems */
  token?: string;
  /** the upstream (moto) answered and the connection was then dropped instead of passing the answer on */
  dropped: boolean;
  /** answered by the proxy from an earlier answer to the same token (see `honourTokens`), not forwarded */
  fromToken: boolean;
  status?: number;
}

export interface LossyProxyOptions {
  /** where requests go (moto) */
  upstream: string;
  /**
   * Whether to drop the connection after the upstream answered this request, instead of passing the answer on.
   * `seen` counts earlier requests with the same body (0 the first time).
   */
  drop: (r: { operation: string; token?: string; body: string; seen: number; index: number }) => boolean;
  /**
   * Stand-in for what moto 5.2.5 lacks (its dynamodb/responses.py transact_write_items never reads
   * ClientRequestToken): DynamoDB's documented idempotency, i.e. a TransactWriteItems repeating the token of one
   * that succeeded gets the same success without being applied again; the same token with another body gets
   * IdempotentParameterMismatchException.
   */
  honourTokens?: boolean;
}

export interface LossyProxy {
  endpoint: string;
  requests: ProxiedRequest[];
  close(): Promise<void>;
}

/**
 * A DynamoDB front on loopback that forwards each request to the upstream, lets it answer, then for the chosen
 * requests drops the client's connection: the write happened, its answer is lost, and the SDK retries.
 */
export async function startLossyProxy(o: LossyProxyOptions): Promise<LossyProxy> {
  const up = new URL(o.upstream);
  const requests: ProxiedRequest[] = [];
  const seen = new Map<string, number>();
  const tokens = new Map<string, { body: string; status: number; headers: IncomingHttpHeaders; payload: Buffer }>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const operation = String(req.headers['x-amz-target'] ?? '').split('.').pop() ?? '';
      let token: string | undefined;
      if (operation === 'TransactWriteItems') token = (JSON.parse(body) as { ClientRequestToken?: string }).ClientRequestToken;
      const entry: ProxiedRequest = { operation, token, dropped: false, fromToken: false };
      const index = requests.length;
      requests.push(entry);
      const n = seen.get(body) ?? 0;
      seen.set(body, n + 1);
      const answer = (status: number, headers: IncomingHttpHeaders, payload: Buffer) => {
        entry.status = status;
        if (o.drop({ operation, token, body, seen: n, index })) {
          entry.dropped = true;
          req.socket.destroy();
          return;
        }
        res.writeHead(status, { ...headers, 'content-length': String(payload.length) });
        res.end(payload);
      };
      if (o.honourTokens && token && tokens.has(token)) {
        const prior = tokens.get(token)!;
        entry.fromToken = true;
        if (prior.body !== body) {
          const payload = Buffer.from(JSON.stringify({ __type: 'com.amazonaws.dynamodb.v20120810#IdempotentParameterMismatchException', message: 'token reused with other parameters' }));
          answer(400, { 'content-type': 'application/x-amz-json-1.0' }, payload);
        } else answer(prior.status, prior.headers, prior.payload);
        return;
      }
      const fwd = request(
        { host: up.hostname, port: up.port, method: req.method, path: req.url, headers: { ...req.headers, host: up.host } },
        (ur) => {
          const out: Buffer[] = [];
          ur.on('data', (c: Buffer) => out.push(c));
          ur.on('end', () => {
            const payload = Buffer.concat(out);
            const headers = { ...ur.headers };
            delete headers['content-length'];
            delete headers['transfer-encoding'];
            delete headers.connection;
            if (o.honourTokens && token && ur.statusCode === 200) tokens.set(token, { body, status: 200, headers, payload });
            answer(ur.statusCode ?? 502, headers, payload);
          });
        },
      );
      fwd.on('error', () => req.socket.destroy());
      fwd.end(body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A small seeded generator (mulberry32): the same seed drops the same requests. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
