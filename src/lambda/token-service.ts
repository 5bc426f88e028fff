/**
 * The token service as a Lambda integration (behind the mutual-TLS authorizer, so revocation applies before it
 * runs): API Gateway proxy events in, proxy responses out, for `POST /token`, `GET /.well-known/jwks.json` and
 * `GET /.well-known/oauth-authorization-server`. The endpoint itself is domain/token-endpoint.ts. Never throws.
 */
import type { HttpRequest, HttpResponse, TokenEndpointDeps } from '../domain/token-endpoint.js';
import { createTokenEndpoint, oauthError } from '../domain/token-endpoint.js';

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

/**
 * The request an integration event carries. HTTP API payload 2.0: `requestContext.http.method`, `rawPath`, the
 * certificate under `requestContext.authentication.clientCert`; REST and HTTP API payload 1.0: `httpMethod`, `path`,
 * under `requestContext.identity.clientCert` (aws-facts). Paths are taken without the stage prefix where API
 * Gateway adds one (REST `requestContext.path` has it, `path` does not; a custom domain's mapping strips it).
 * undefined for something that is not such an event.
 */
export function requestOfEvent(event: unknown): HttpRequest | undefined {
  if (!isObject(event) || !isObject(event.requestContext)) return undefined;
  const rc = event.requestContext;
  const v2 = event.version === '2.0';
  const http = isObject(rc.http) ? rc.http : undefined;
  const method = (v2 ? str(http?.method) : str(event.httpMethod))?.toUpperCase();
  let path = v2 ? str(event.rawPath) : str(event.path);
  if (!method || !path) return undefined;
  // HTTP API payload 2.0 keeps the stage in rawPath on the default endpoint (`/$default/…` never, `/<stage>/…` yes)
  const stage = str(rc.stage);
  if (v2 && stage && stage !== '$default' && path.startsWith(`/${stage}/`)) path = path.slice(stage.length + 1);
  const headers: Record<string, string | undefined> = {};
  if (isObject(event.headers)) for (const [k, val] of Object.entries(event.headers)) if (typeof val === 'string') headers[k.toLowerCase()] = val;
  const holder = v2 ? rc.authentication : rc.identity;
  const cert = isObject(holder) && isObject(holder.clientCert) ? holder.clientCert : undefined;
  let body = str(event.body);
  if (body !== undefined && event.isBase64Encoded === true) body = Buffer.from(body, 'base64').toString('utf8');
  return { method, path, headers, body, clientCertPem: str(cert?.clientCertPem) || undefined, domainName: str(rc.domainName) };
}

/** A Lambda proxy integration response (both API types accept this form). */
export interface ProxyResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: false;
}

const toProxy = (r: HttpResponse): ProxyResponse => ({ statusCode: r.statusCode, headers: r.headers, body: r.body, isBase64Encoded: false });

/** The handler for integration events. Never throws: a malformed event is an RFC 6749 invalid_request. */
export function createTokenHandler(deps: TokenEndpointDeps): (event: unknown) => Promise<ProxyResponse> {
  const endpoint = createTokenEndpoint(deps);
  return async (event) => {
    let req: HttpRequest | undefined;
    try {
      req = requestOfEvent(event);
    } catch {
      req = undefined;
    }
    if (!req) return toProxy(oauthError('invalid_request', 'malformed request event'));
    return toProxy(await endpoint(req));
  };
}

/** What the token Lambda reads from its environment at cold start (see src/lambda/README.md). */
export interface TokenEnv {
  tableName: string;
  region: string;
  issuer?: string;
  defaultAudience?: string;
  ttlSeconds?: number;
}

/** @throws Error naming the missing or invalid variable */
export function readTokenEnv(env: Record<string, string | undefined>): TokenEnv {
  const tableName = env.CA_TABLE?.trim();
  if (!tableName) throw new Error('CA_TABLE is not set: give the name of the DynamoDB table that holds the certificate registry and the token key set');
  const region = (env.AWS_REGION ?? env.AWS_DEFAULT_REGION)?.trim();
  if (!region) throw new Error('AWS_REGION is not set (Lambda sets it; set it yourself when running elsewhere)');
  const ttl = env.CA_TOKEN_TTL_SECONDS?.trim();
  if (ttl && !/^\d+$/.test(ttl)) throw new Error(`CA_TOKEN_TTL_SECONDS must be a whole number of seconds, got ${JSON.stringify(env.CA_TOKEN_TTL_SECONDS)}`);
  return {
    tableName,
    region,
    issuer: env.CA_TOKEN_ISSUER?.trim() || undefined,
    defaultAudience: env.CA_TOKEN_AUDIENCE?.trim() || undefined,
    ttlSeconds: ttl ? Number(ttl) : undefined,
  };
}
