/**
 * A local stand-in for an API Gateway custom domain with mutual TLS: the handshake enforces the truststore
 * (TLS 1.2+, a client certificate chaining to it), then the authorizer decides, exactly as in AWS, from an
 * event of the chosen shape. For trying the CA and clients end to end without an AWS account.
 */
import { X509Certificate, randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Clock, RegistryReader } from '../ports.js';
import { createAuthorizer, type Authorizer } from '../lambda/authorizer.js';
import type { AuthorizerResponse } from '../lambda/event.js';
import type { AuthorizerMode, RouteScopes } from '../lambda/token.js';
import type { TokenSettings } from '../lambda/token-verifier.js';
import { loadTokenVerifier, type TokenSources } from '../lambda/token-loader.js';
import type { HttpRequest, HttpResponse } from '../domain/token-endpoint.js';

export interface StartGatewayOptions {
  registry: RegistryReader;
  /** the truststore API Gateway would get: issuing intermediates and root, concatenated PEM */
  truststorePem: string;
  /** the server certificate, optionally followed by its chain */
  serverCertPem: string;
  serverKeyPem: string;
  /** 0 or absent: any free port */
  port?: number;
  host?: string;
  /** `v2`: HTTP API payload 2.0 (default); `rest`: REST API REQUEST authorizer */
  shape?: 'v2' | 'rest';
  /** HTTP API only: the authorizer's response form (REST always gets a policy) */
  responseMode?: 'simple' | 'iam';
  /** the authorizer's registry cache TTL (the maximum revocation delay); default as in Lambda */
  cacheTtlMs?: number;
  clock?: Clock;
  /** the authorizer's mode (default mtls); every other mode needs `token` */
  mode?: AuthorizerMode;
  /** the token checks of a token mode and where its keys or secret come from */
  token?: { settings: TokenSettings; sources: TokenSources; routeScopes?: RouteScopes };
  /** authorizer decisions, handshake refusals and one line per request, as structured entries */
  log?: (entry: object) => void;
  /**
   * The token service (domain/token-endpoint.ts): `POST /token` behind the authorizer, as the Lambda integration is
   * in AWS, and the discovery documents. Absent: those paths are routes like any other.
   */
  tokenEndpoint?: (req: HttpRequest) => Promise<HttpResponse>;
}

/** The paths the token service answers (see StartGatewayOptions.tokenEndpoint). */
export const TOKEN_PATHS = new Set(['/token', '/.well-known/jwks.json', '/.well-known/oauth-authorization-server']);
/** API Gateway's payload limit is 10 MB; a token request is tiny, and the endpoint refuses more than 8 KB anyway. */
const MAX_TOKEN_BODY = 64 * 1024;

/** The request body, up to `max` bytes (what is beyond is dropped, and the endpoint sees an oversized body). */
function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= max + 1) chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).subarray(0, max + 1).toString('utf8')));
    req.on('error', reject);
  });
}

/** What the token service answers for a request the gateway let through: the integration's response, sent as is. */
async function tokenIntegration(
  endpoint: (req: HttpRequest) => Promise<HttpResponse>,
  req: IncomingMessage,
  res: ServerResponse,
  f: RequestFacts,
  peer: X509Certificate,
  port: number,
): Promise<number> {
  const body = await readBody(req, MAX_TOKEN_BODY);
  const r = await endpoint({ method: f.method, path: f.path, headers: f.headers, body, clientCertPem: peer.toString(), domainName: `localhost:${port}` });
  res.writeHead(r.statusCode, { ...r.headers, 'content-length': Buffer.byteLength(r.body) });
  res.end(r.body);
  return r.statusCode;
}

export interface RunningGateway {
  url: string;
  port: number;
  close(): Promise<void>;
}

const ACCOUNT = '000000000000';
const REGION = 'local';
const API_ID = 'localgw';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** API Gateway's request time format: `12/Mar/2020:19:03:58 +0000`. */
function requestTime(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

/** The `clientCert` object as API Gateway documents it; the authorizer reads only clientCertPem. */
export function clientCertObject(x: X509Certificate) {
  const dn = (s: string) => s.split('\n').filter(Boolean).reverse().join(',');
  const hex = x.serialNumber.toLowerCase();
  return {
    clientCertPem: x.toString(),
    subjectDN: dn(x.subject),
    issuerDN: dn(x.issuer),
    serialNumber: (hex.length % 2 ? '0' + hex : hex).match(/../g)!.join(':'),
    // Node prints validity the way OpenSSL does, which is what API Gateway shows: `Aug  5 09:36:04 2021 GMT`
    validity: { notBefore: x.validFrom, notAfter: x.validTo },
  };
}

interface RequestFacts {
  method: string;
  path: string;
  rawQuery: string;
  headers: Record<string, string>;
  multiHeaders: Record<string, string[]>;
  query: Record<string, string[]>;
  sourceIp: string;
  userAgent: string;
  host: string;
  protocol: string;
  now: Date;
  requestId: string;
}

function facts(req: IncomingMessage, now: Date): RequestFacts {
  const url = new URL(req.url ?? '/', 'https://gateway.invalid');
  const headers: Record<string, string> = {};
  const multiHeaders: Record<string, string[]> = {};
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    const k = req.rawHeaders[i]!.toLowerCase();
    (multiHeaders[k] ??= []).push(req.rawHeaders[i + 1]!);
  }
  for (const [k, v] of Object.entries(multiHeaders)) headers[k] = v.join(',');
  const query: Record<string, string[]> = {};
  for (const [k, v] of url.searchParams) (query[k] ??= []).push(v);
  return {
    method: (req.method ?? 'GET').toUpperCase(),
    path: url.pathname,
    rawQuery: url.search.replace(/^\?/, ''),
    headers,
    multiHeaders,
    query,
    sourceIp: (req.socket.remoteAddress ?? '').replace(/^::ffff:/, ''),
    userAgent: headers['user-agent'] ?? '',
    host: (headers.host ?? 'localhost').replace(/:\d+$/, ''),
    protocol: `HTTP/${req.httpVersion}`,
    now,
    requestId: randomUUID(),
  };
}

/** HTTP API payload 2.0 REQUEST authorizer event. */
function eventV2(f: RequestFacts, clientCert: object) {
  const cookies = f.multiHeaders.cookie?.flatMap((c) => c.split(/;\s*/)).filter(Boolean);
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/$default/${f.method}${f.path}`,
    identitySource: [],
    routeKey: '$default',
    rawPath: f.path,
    rawQueryString: f.rawQuery,
    ...(cookies?.length ? { cookies } : {}),
    headers: Object.fromEntries(Object.entries(f.headers).filter(([k]) => k !== 'cookie')),
    ...(Object.keys(f.query).length ? { queryStringParameters: Object.fromEntries(Object.entries(f.query).map(([k, v]) => [k, v.join(',')])) } : {}),
    requestContext: {
      accountId: ACCOUNT,
      apiId: API_ID,
      authentication: { clientCert },
      domainName: f.host,
      domainPrefix: f.host.split('.')[0],
      http: { method: f.method, path: f.path, protocol: f.protocol, sourceIp: f.sourceIp, userAgent: f.userAgent },
      requestId: f.requestId,
      routeKey: '$default',
      stage: '$default',
      time: requestTime(f.now),
      timeEpoch: f.now.getTime(),
    },
    pathParameters: {},
    stageVariables: {},
  };
}

/** REST API REQUEST authorizer event, for a `/{proxy+}` resource on stage `local`. */
function eventRest(f: RequestFacts, clientCert: object) {
  const stage = 'local';
  const last = (m: Record<string, string[]>) => Object.fromEntries(Object.entries(m).map(([k, v]) => [k, v[v.length - 1]!]));
  const hasQuery = Object.keys(f.query).length > 0;
  return {
    type: 'REQUEST',
    methodArn: `arn:aws:execute-api:${REGION}:${ACCOUNT}:${API_ID}/${stage}/${f.method}${f.path}`,
    resource: '/{proxy+}',
    path: f.path,
    httpMethod: f.method,
    headers: last(f.multiHeaders),
    multiValueHeaders: f.multiHeaders,
    queryStringParameters: hasQuery ? last(f.query) : null,
    multiValueQueryStringParameters: hasQuery ? f.query : null,
    pathParameters: { proxy: f.path.replace(/^\//, '') },
    stageVariables: null,
    requestContext: {
      resourceId: 'proxy0',
      resourcePath: '/{proxy+}',
      httpMethod: f.method,
      extendedRequestId: f.requestId,
      requestTime: requestTime(f.now),
      path: `/${stage}${f.path}`,
      accountId: ACCOUNT,
      protocol: f.protocol,
      stage,
      domainPrefix: f.host.split('.')[0],
      requestTimeEpoch: f.now.getTime(),
      requestId: f.requestId,
      identity: {
        cognitoIdentityPoolId: null,
        accountId: null,
        cognitoIdentityId: null,
        caller: null,
        sourceIp: f.sourceIp,
        principalOrgId: null,
        accessKey: null,
        cognitoAuthenticationType: null,
        cognitoAuthenticationProvider: null,
        userArn: null,
        userAgent: f.userAgent,
        user: null,
        clientCert,
      },
      domainName: f.host,
      apiId: API_ID,
    },
  };
}

/** IAM-style wildcard match of an execute-api ARN: `*` any run of characters, `?` one. */
function arnMatches(pattern: string, arn: string): boolean {
  const re = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$');
  return re.test(arn);
}

/** What API Gateway makes of an authorizer response: allowed, denied, or unusable (500). */
export function evaluateResponse(res: unknown, resource: string): 'allow' | 'deny' | 'invalid' {
  if (typeof res !== 'object' || res === null) return 'invalid';
  const r = res as Partial<AuthorizerResponse> & Record<string, unknown>;
  if ('isAuthorized' in r) return typeof r.isAuthorized === 'boolean' ? (r.isAuthorized ? 'allow' : 'deny') : 'invalid';
  const doc = r.policyDocument as { Statement?: unknown } | undefined;
  if (typeof r.principalId !== 'string' || !doc || !Array.isArray(doc.Statement)) return 'invalid';
  let allow = false;
  for (const s of doc.Statement as Record<string, unknown>[]) {
    const actions = ([] as unknown[]).concat(s?.Action);
    const resources = ([] as unknown[]).concat(s?.Resource);
    const actionHit = actions.some((a) => a === '*' || a === 'execute-api:*' || a === 'execute-api:Invoke');
    const resourceHit = resources.some((p) => typeof p === 'string' && arnMatches(p, resource));
    if (!actionHit || !resourceHit) continue;
    // an explicit Deny wins over any Allow (IAM policy evaluation)
    if (s.Effect === 'Deny') return 'deny';
    if (s.Effect === 'Allow') allow = true;
  }
  return allow ? 'allow' : 'deny';
}

function send(res: ServerResponse, status: number, body: object): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** The authorizer the gateway runs for every protected route, in the configured mode, as the Lambda would. */
function gatewayAuthorizer(o: StartGatewayOptions, clock: Clock, log: (entry: object) => void): Authorizer {
  const mode = o.mode ?? 'mtls';
  const token = mode !== 'mtls' && o.token ? loadTokenVerifier(o.token.settings, { clock, ...o.token.sources }) : undefined;
  return createAuthorizer({
    registry: o.registry,
    clock,
    log,
    config: { cacheTtlMs: o.cacheTtlMs, responseMode: o.responseMode ?? 'simple', mode, ...(o.token?.routeScopes ? { routeScopes: o.token.routeScopes } : {}) },
    ...(token ? { token } : {}),
  });
}

/** Starts the local mTLS gateway. Resolves once it listens. */
export async function startGateway(o: StartGatewayOptions): Promise<RunningGateway> {
  const ca = o.truststorePem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  if (!ca.length) throw new Error('failed to start the gateway: the truststore holds no certificate');
  const shape = o.shape ?? 'v2';
  const log = o.log ?? (() => {});
  const clock = o.clock ?? { now: () => new Date() };
  const authorize = gatewayAuthorizer(o, clock, log);
  // the token service's routes are where a client has only its certificate: they run behind an authorizer in
  // mtls mode whatever the gateway's mode (the stack gives its token route such an authorizer too)
  const authorizeTokenPath = (o.mode ?? 'mtls') === 'mtls' ? authorize : gatewayAuthorizer({ ...o, mode: 'mtls' }, clock, log);

  let port = 0;
  const server: Server = createServer(
    {
      key: o.serverKeyPem,
      cert: o.serverCertPem,
      ca,
      // API Gateway mutual TLS: TLS 1.2 minimum, and a client certificate chaining to the truststore, or no
      // handshake at all (aws-facts: the handshake checks chain, validity and algorithms, never revocation).
      minVersion: 'TLSv1.2',
      requestCert: true,
      rejectUnauthorized: true,
    },
    (req, res) => {
      void handle(req, res);
    },
  );

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const started = Date.now();
    const tokenPath = !!o.tokenEndpoint && TOKEN_PATHS.has(new URL(req.url ?? '/', 'https://gateway.invalid').pathname);
    if (!tokenPath) req.resume();
    let status = 500;
    let body: object = { message: 'Internal Server Error' };
    let f: RequestFacts | undefined;
    try {
      f = facts(req, clock.now());
      const peer = (req.socket as TLSSocket).getPeerX509Certificate();
      if (!peer) {
        status = 403;
        body = { message: 'Forbidden' };
      } else {
        const event = shape === 'rest' ? eventRest(f, clientCertObject(peer)) : eventV2(f, clientCertObject(peer));
        const resource = 'methodArn' in event ? event.methodArn : event.routeArn;
        const answer = await (tokenPath ? authorizeTokenPath : authorize)(event);
        const verdict = evaluateResponse(answer, resource);
        // the discovery documents are public; /token runs behind the authorizer, as its Lambda integration does
        if (tokenPath && (f.path !== '/token' || verdict === 'allow')) {
          status = await tokenIntegration(o.tokenEndpoint!, req, res, f, peer, port);
          try {
            log({ level: 'info', msg: 'gateway request', method: f.method, path: f.path, status, shape, latencyMs: Date.now() - started });
          } catch {
            // logging must not break the response
          }
          return;
        }
        if (tokenPath) req.resume();
        if (verdict === 'allow') {
          status = 200;
          body = { authorized: true, context: answer.context ?? {} };
        } else if (verdict === 'deny') {
          status = 403;
          body = { message: 'Forbidden' };
        }
      }
    } catch {
      status = 500;
      body = { message: 'Internal Server Error' };
      if (res.headersSent) return void res.end();
    }
    send(res, status, body);
    try {
      log({ level: 'info', msg: 'gateway request', method: f?.method, path: f?.path, status, shape, latencyMs: Date.now() - started });
    } catch {
      // logging must not break the response
    }
  }

  server.on('tlsClientError', (err: NodeJS.ErrnoException) => {
    try {
      log({ level: 'warn', msg: 'gateway handshake refused', error: err.code ?? err.message });
    } catch {
      // as above
    }
  });

  const host = o.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;
  const loopbackOrAny = ['127.0.0.1', '::1', 'localhost', '0.0.0.0', '::'].includes(host);
  const urlHost = loopbackOrAny ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `https://${urlHost}:${port}/`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((e) => (e ? reject(e) : resolve()));
        server.closeAllConnections();
      }),
  };
}
