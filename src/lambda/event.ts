/**
 * The authorizer events API Gateway sends and the responses it accepts (aws-facts: "What the authorizer
 * receives"). Pure: no I/O, never throws on any input.
 */

/** `v2`: HTTP API payload 2.0; `v1`: HTTP API payload 1.0; `rest`: REST API REQUEST authorizer. */
export type EventShape = 'v2' | 'v1' | 'rest';

export interface ParsedEvent {
  shape?: EventShape;
  /** methodArn (REST, v1) or routeArn (v2); absent on a malformed event */
  resource?: string;
  /** the clientCertPem string, when the event carries one */
  clientCertPem?: string;
  /** why the event could not be used, when it could not */
  problem?: 'malformed_event' | 'no_client_cert';
}

/** A response value API Gateway passes to the backend: REST allows only string, number, boolean. */
export type ContextValue = string | number | boolean;

export interface SimpleResponse {
  isAuthorized: boolean;
  context: Record<string, ContextValue>;
}

export interface PolicyResponse {
  principalId: string;
  policyDocument: {
    Version: '2012-10-17';
    Statement: { Action: 'execute-api:Invoke'; Effect: 'Allow' | 'Deny'; Resource: string }[];
  };
  context: Record<string, ContextValue>;
}

export type AuthorizerResponse = SimpleResponse | PolicyResponse;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string | undefined => (typeof v === 'string' && v.length > 0 ? v : undefined);

/**
 * Detects the event shape and extracts what the decision needs. Payload 2.0 carries `version: '2.0'` and the
 * certificate under `requestContext.authentication`; payload 1.0 carries `version: '1.0'`; a REST REQUEST
 * authorizer event has no version. Both of the latter put it under `requestContext.identity`.
 */
export function parseEvent(event: unknown): ParsedEvent {
  if (!isObject(event)) return { problem: 'malformed_event' };
  const version = event.version;
  const rc = event.requestContext;
  let shape: EventShape | undefined;
  if (version === '2.0') shape = 'v2';
  else if (version === '1.0') shape = 'v1';
  else if (version === undefined && (event.type === 'REQUEST' || typeof event.methodArn === 'string')) shape = 'rest';
  const resource = shape === 'v2' ? str(event.routeArn) : str(event.methodArn);
  // A REST TOKEN authorizer is sent a token and the method ARN, never the client certificate (aws-facts): the
  // event is well formed, the certificate is missing, and that is what the operator must be told.
  if (version === undefined && event.type === 'TOKEN') return resource ? { shape: 'rest', resource, problem: 'no_client_cert' } : { problem: 'malformed_event' };
  if (!shape || !resource || !isObject(rc)) return { shape, resource, problem: 'malformed_event' };
  const holder = shape === 'v2' ? rc.authentication : rc.identity;
  if (holder === undefined || holder === null) return { shape, resource, problem: 'no_client_cert' };
  if (!isObject(holder)) return { shape, resource, problem: 'malformed_event' };
  const cert = holder.clientCert;
  if (cert === undefined || cert === null) return { shape, resource, problem: 'no_client_cert' };
  if (!isObject(cert)) return { shape, resource, problem: 'malformed_event' };
  const pem = cert.clientCertPem;
  if (pem === undefined || pem === null || pem === '') return { shape, resource, problem: 'no_client_cert' };
  if (typeof pem !== 'string') return { shape, resource, problem: 'malformed_event' };
  return { shape, resource, clientCertPem: pem };
}

/**
 * API Gateway limits the `Resource` of a policy statement an authorizer returns to 512 characters, while a
 * method ARN may reach 1,600 bytes (developer guide, "Output from an API Gateway Lambda authorizer"): a longer
 * resource makes the answer invalid, a 500 for the caller.
 */
export const MAX_POLICY_RESOURCE_LENGTH = 512;

/**
 * The statement's resource: the method or route ARN itself, or, when it is longer than API Gateway accepts,
 * the same API, stage and verb with any path (`arn:…:<apiId>/<stage>/<verb>/*`). The wider Allow is safe only
 * because API Gateway's authorizer cache stays at TTL 0 (README): the policy then covers this one request.
 */
export function policyResource(arn: string): string {
  if (arn.length <= MAX_POLICY_RESOURCE_LENGTH) return arn;
  // arn:<partition>:execute-api:<region>:<account>:<apiId>/<stage>/<verb>/<path…>
  const [api, ...rest] = arn.split('/');
  // keep stage and verb if that fits, else the stage, else the API; always replace at least one segment
  for (let keep = Math.min(2, rest.length - 1); keep >= 0; keep--) {
    const candidate = [api, ...rest.slice(0, keep), '*'].join('/');
    if (candidate.length <= MAX_POLICY_RESOURCE_LENGTH) return candidate;
  }
  return '*';
}

/**
 * The response for a decision. HTTP API payload 2.0 may use the simple form (when the authorizer has simple
 * responses enabled); payload 1.0 and REST need an IAM policy. A Deny policy gives 403 on REST; throwing would
 * give 401 or 500 (aws-facts), so a denial is always a policy, never an exception.
 */
export function buildResponse(o: {
  shape?: EventShape;
  resource?: string;
  mode: 'simple' | 'iam';
  allow: boolean;
  principalId: string;
  context: Record<string, ContextValue>;
}): AuthorizerResponse {
  // Simple mode is configured only for an HTTP API with payload 2.0, so an event of unknown shape gets it too.
  if (o.mode === 'simple' && o.shape !== 'v1' && o.shape !== 'rest') return { isAuthorized: o.allow, context: o.context };
  return {
    principalId: o.principalId,
    policyDocument: {
      Version: '2012-10-17',
      // Without a resource to name (malformed event) a Deny on everything is the only safe statement.
      Statement: [{ Action: 'execute-api:Invoke', Effect: o.allow ? 'Allow' : 'Deny', Resource: o.resource === undefined ? '*' : policyResource(o.resource) }],
    },
    context: o.context,
  };
}
