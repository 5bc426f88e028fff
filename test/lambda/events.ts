import { X509Certificate } from 'node:crypto';

/** The `clientCert` object API Gateway adds, formatted as its documentation shows. */
export function clientCertOf(pem: string) {
  const x = new X509Certificate(pem);
  const dn = (s: string) => s.split('\n').filter(Boolean).reverse().join(',');
  return {
    clientCertPem: pem,
    subjectDN: dn(x.subject),
    issuerDN: dn(x.issuer),
    serialNumber: x.serialNumber.toLowerCase().match(/../g)!.join(':'),
    validity: { notBefore: x.validFrom, notAfter: x.validTo },
  };
}

const ROUTE_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abcdef123/$default/GET/orders';
const METHOD_ARN = 'arn:aws:execute-api:eu-west-1:123456789012:abcdef123/prod/GET/orders';

/** HTTP API payload 2.0 REQUEST authorizer event (AWS docs: HTTP API Lambda authorizer, format 2.0). */
export function eventV2(clientCert: object | undefined) {
  return {
    version: '2.0',
    type: 'REQUEST',
    routeArn: ROUTE_ARN,
    identitySource: [],
    routeKey: 'GET /orders',
    rawPath: '/orders',
    rawQueryString: 'a=1',
    headers: { host: 'api.example.com', 'user-agent': 'curl/8' },
    queryStringParameters: { a: '1' },
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef123',
      authentication: clientCert ? { clientCert } : undefined,
      domainName: 'api.example.com',
      domainPrefix: 'api',
      http: { method: 'GET', path: '/orders', protocol: 'HTTP/1.1', sourceIp: '203.0.113.7', userAgent: 'curl/8' },
      requestId: 'req-1',
      routeKey: 'GET /orders',
      stage: '$default',
      time: '12/Mar/2020:19:03:58 +0000',
      timeEpoch: 1583348638390,
    },
  };
}

/** HTTP API payload 1.0 REQUEST authorizer event. */
export function eventV1(clientCert: object | undefined) {
  return {
    version: '1.0',
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    identitySource: '',
    resource: '/orders',
    path: '/orders',
    httpMethod: 'GET',
    headers: { host: 'api.example.com' },
    queryStringParameters: null,
    requestContext: {
      accountId: '123456789012',
      apiId: 'abcdef123',
      httpMethod: 'GET',
      identity: { sourceIp: '203.0.113.7', userAgent: 'curl/8', clientCert },
      path: '/orders',
      requestId: 'req-1',
      resourcePath: '/orders',
      stage: 'prod',
    },
  };
}

/** REST API REQUEST authorizer event (no `version`). */
export function eventRest(clientCert: object | undefined) {
  return {
    type: 'REQUEST',
    methodArn: METHOD_ARN,
    resource: '/orders',
    path: '/orders',
    httpMethod: 'GET',
    headers: { Host: 'api.example.com' },
    multiValueHeaders: { Host: ['api.example.com'] },
    queryStringParameters: {},
    multiValueQueryStringParameters: {},
    pathParameters: {},
    stageVariables: {},
    requestContext: {
      path: '/prod/orders',
      accountId: '123456789012',
      resourceId: 'abc123',
      stage: 'prod',
      requestId: 'req-1',
      identity: { sourceIp: '203.0.113.7', userAgent: 'curl/8', clientCert },
      resourcePath: '/orders',
      httpMethod: 'GET',
      apiId: 'abcdef123',
    },
  };
}

export const SHAPES = { v2: eventV2, v1: eventV1, rest: eventRest } as const;
export { ROUTE_ARN, METHOD_ARN };
