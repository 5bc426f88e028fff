/**
 * Authorizer events as API Gateway documents them, field by field, on a custom domain with mutual TLS. Only
 * `clientCertPem` (a certificate of the test's CA instead of AWS's placeholder `CERT_CONTENT`) and the strings
 * API Gateway derives from it change; everything else is the documented example as printed.
 *
 * - HTTP API, payload 2.0 and 1.0 authorizer events: "Control access to HTTP APIs with AWS Lambda authorizers",
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-lambda-authorizer.html (section
 *   "Payload format version"). The authorizer example omits the mTLS block; where API Gateway puts it on a
 *   mutual-TLS domain (`requestContext.authentication.clientCert` in 2.0, `requestContext.identity.clientCert`
 *   in 1.0) and how it is formatted is in the integration payload examples of the same requestContext,
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/http-api-develop-integrations-lambda.html.
 * - REST API REQUEST authorizer event (with `identity.clientCert`): "Input to an API Gateway Lambda
 *   authorizer", https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-lambda-authorizer-input.html
 * - TOKEN authorizer event: the same page, section "TOKEN input format".
 * - `serialNumber` forms: colon-separated lowercase hex in the pages above
 *   (`a1:a1:…`), and `"1"` for a certificate with serial 1 in AWS's own recorded event
 *   (aws/aws-lambda-rust-runtime, lambda-events/src/fixtures/example-apigw-v2-request-iam.json), that is the
 *   decimal value. Validity dates are OpenSSL's `MMM d HH:MM:SS YYYY GMT` with the day padded by a space
 *   (`Aug  5 09:36:04 2021 GMT`).
 */
import { X509Certificate } from 'node:crypto';

export type SerialForm = 'colon-hex' | 'decimal';

/** The `clientCert` object API Gateway adds, formatted as its documentation shows. */
export function clientCertOf(pem: string, serialForm: SerialForm = 'colon-hex') {
  const x = new X509Certificate(pem);
  const dn = (s: string) => s.split('\n').filter(Boolean).reverse().join(',');
  const hex = x.serialNumber.toLowerCase();
  return {
    clientCertPem: pem,
    subjectDN: dn(x.subject),
    issuerDN: dn(x.issuer),
    serialNumber: serialForm === 'decimal' ? BigInt(`0x${hex}`).toString(10) : hex.padStart(hex.length + (hex.length % 2), '0').match(/../g)!.join(':'),
    // Node prints validity as OpenSSL does: "Aug  5 09:36:04 2021 GMT"
    validity: { notBefore: x.validFrom, notAfter: x.validTo },
  };
}

/** The documented example's placeholder `clientCert`, exactly as printed. */
export const DOCUMENTED_CLIENT_CERT = {
  clientCertPem: 'CERT_CONTENT',
  subjectDN: 'www.example.com',
  issuerDN: 'Example issuer',
  serialNumber: 'a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1:a1',
  validity: { notBefore: 'May 28 12:30:02 2019 GMT', notAfter: 'Aug  5 09:36:04 2021 GMT' },
};

/** The ARN the documented examples carry (routeArn of 2.0, methodArn of 1.0 and REST). */
const ROUTE_ARN = 'arn:aws:execute-api:us-east-1:123456789012:abcdef123/test/GET/request';
const METHOD_ARN = ROUTE_ARN;

/** HTTP API payload 2.0 REQUEST authorizer event; `undefined` = a domain without mutual TLS. */
export function eventV2(clientCert: object | undefined) {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: ROUTE_ARN,
    identitySource: ['user1', '123'],
    routeKey: '$default',
    rawPath: '/my/path',
    rawQueryString: 'parameter1=value1&parameter1=value2&parameter2=value',
    cookies: ['cookie1', 'cookie2'],
    headers: { Header1: 'value1', Header2: 'value2' },
    queryStringParameters: { parameter1: 'value1,value2', parameter2: 'value' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'api-id',
      ...(clientCert === undefined ? {} : { authentication: { clientCert } }),
      domainName: 'id.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'id',
      http: { method: 'POST', path: '/my/path', protocol: 'HTTP/1.1', sourceIp: 'IP', userAgent: 'agent' },
      requestId: 'id',
      routeKey: '$default',
      stage: '$default',
      time: '12/Mar/2020:19:03:58 +0000',
      timeEpoch: 1583348638390,
    },
    pathParameters: { parameter1: 'value1' },
    stageVariables: { stageVariable1: 'value1', stageVariable2: 'value2' },
  };
}

/** HTTP API payload 1.0 REQUEST authorizer event. */
export function eventV1(clientCert: object | undefined) {
  return {
    version: '1.0',
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    identitySource: 'user1,123',
    authorizationToken: 'user1,123',
    resource: '/request',
    path: '/request',
    httpMethod: 'GET',
    headers: {
      'X-AMZ-Date': '20170718T062915Z',
      Accept: '*/*',
      HeaderAuth1: 'headerValue1',
      'CloudFront-Viewer-Country': 'US',
      'CloudFront-Forwarded-Proto': 'https',
      'CloudFront-Is-Tablet-Viewer': 'false',
      'CloudFront-Is-Mobile-Viewer': 'false',
      'User-Agent': '...',
    },
    queryStringParameters: { QueryString1: 'queryValue1' },
    pathParameters: {},
    stageVariables: { StageVar1: 'stageValue1' },
    requestContext: {
      path: '/request',
      accountId: '123456789012',
      resourceId: '05c7jb',
      stage: 'test',
      requestId: '...',
      identity: { apiKey: '...', sourceIp: '...', ...(clientCert === undefined ? {} : { clientCert }) },
      resourcePath: '/request',
      httpMethod: 'GET',
      apiId: 'abcdef123',
    },
  };
}

/** REST API REQUEST authorizer event (no `version`). */
export function eventRest(clientCert: object | undefined) {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/request',
    path: '/request',
    httpMethod: 'GET',
    headers: {
      'X-AMZ-Date': '20170718T062915Z',
      Accept: '*/*',
      HeaderAuth1: 'headerValue1',
      'CloudFront-Viewer-Country': 'US',
      'CloudFront-Forwarded-Proto': 'https',
      'CloudFront-Is-Tablet-Viewer': 'false',
      'CloudFront-Is-Mobile-Viewer': 'false',
      'User-Agent': '...',
    },
    queryStringParameters: { QueryString1: 'queryValue1' },
    pathParameters: {},
    stageVariables: { StageVar1: 'stageValue1' },
    requestContext: {
      path: '/request',
      accountId: '123456789012',
      resourceId: '05c7jb',
      stage: 'test',
      requestId: '...',
      identity: { apiKey: '...', sourceIp: '...', ...(clientCert === undefined ? {} : { clientCert }) },
      resourcePath: '/request',
      httpMethod: 'GET',
      apiId: 'abcdef123',
    },
  };
}

/** REST API TOKEN authorizer event: a token and the method ARN, no request context, no certificate. */
export function eventToken(token = 'allow') {
  return { type: 'TOKEN', authorizationToken: token, methodArn: 'arn:aws:execute-api:us-west-2:123456789012:ymy8tbxw7b/*/GET/' };
}

/** The same event with a request path of `length` characters: API Gateway puts the path into the ARN. */
export function withPathLength<T extends { routeArn?: string; methodArn?: string }>(ev: T, length: number): T {
  const path = 'p'.repeat(length - 1);
  const grow = (arn: string) => arn.replace(/\/request$/, `/${path}`);
  return { ...ev, ...(ev.routeArn ? { routeArn: grow(ev.routeArn) } : {}), ...(ev.methodArn ? { methodArn: grow(ev.methodArn) } : {}) };
}

export const SHAPES = { v2: eventV2, v1: eventV1, rest: eventRest } as const;
export { ROUTE_ARN, METHOD_ARN };

/**
 * The same event as a client sending `Authorization: <value>` makes it: HTTP API puts the header (lowercased) in
 * `headers`; REST and payload 1.0 keep its case in `headers` and add `multiValueHeaders` (REST's recorded form).
 */
export function withAuthorization<T extends { headers: object }>(ev: T, value: string, name = 'authorization'): T {
  const isV2 = (ev as { version?: string }).version === '2.0';
  return {
    ...ev,
    headers: { ...ev.headers, [isV2 ? name.toLowerCase() : name]: value },
    ...(isV2 ? {} : { multiValueHeaders: { ...Object.fromEntries(Object.entries(ev.headers).map(([k, v]) => [k, [v]])), [name]: [value] } }),
  };
}
