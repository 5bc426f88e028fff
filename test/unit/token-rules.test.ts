import { describe, it, expect } from 'vitest';
import { parseSpiffeId } from '../../src/domain/spiffe.js';
import { validateTrustDomain } from '../../src/domain/policy.js';
import { bearerToken, hasScopes, parseRouteScopes, requiredScopes, routeKeys } from '../../src/lambda/token.js';
import { parseAuthorizerMode, readAuthorizerEnv, readTokenEnv } from '../../src/lambda/config.js';

describe('SPIFFE IDs (SPIFFE ID specification §2)', () => {
  it.each([
    ['spiffe://example.org/ns/prod/sa/orders', { trustDomain: 'example.org', path: '/ns/prod/sa/orders' }],
    ['spiffe://example.org', { trustDomain: 'example.org', path: '' }],
    ['spiffe://td-1_x.local/a.b/c-d_e', { trustDomain: 'td-1_x.local', path: '/a.b/c-d_e' }],
  ])('accepts %s', (id, parts) => expect(parseSpiffeId(id)).toEqual(parts));

  it.each(['spiffe://Example.org/x', 'spiffe://example.org/', 'spiffe://example.org//x', 'spiffe://example.org/./x', 'spiffe://example.org/../x', 'spiffe://example.org/a b', 'spiffe://example.org/x?y', 'spiffe://example.org/x#y', 'spiffe:///x', 'SPIFFE://example.org/x', 'https://example.org/x', 'spiffe://user@example.org/x', 'spiffe://example.org:443/x', `spiffe://example.org/${'a'.repeat(2100)}`, 42, undefined])(
    'refuses %s',
    (id) => expect(parseSpiffeId(id)).toBeUndefined(),
  );

  it('shares the trust domain rule with the CLI setting', () => {
    expect(() => validateTrustDomain('Example.org')).toThrow();
    expect(validateTrustDomain('example.org')).toBe('example.org');
  });
});

describe('bearer tokens of events (RFC 6750 §2.1)', () => {
  it('reads the Authorization header in any case, and a TOKEN event\'s authorizationToken', () => {
    expect(bearerToken({ version: '2.0', headers: { authorization: 'Bearer a.b.c' } })).toEqual({ token: 'a.b.c' });
    expect(bearerToken({ type: 'REQUEST', headers: { AUTHORIZATION: 'bearer a.b.c' } })).toEqual({ token: 'a.b.c' });
    expect(bearerToken({ type: 'TOKEN', authorizationToken: 'Bearer a.b.c', methodArn: 'arn' })).toEqual({ token: 'a.b.c' });
  });

  it.each([
    [{ version: '2.0', headers: {} }, 'no_token'],
    [{ version: '2.0' }, 'no_token'],
    [{ type: 'TOKEN' }, 'no_token'],
    [{ type: 'TOKEN', authorizationToken: 7 }, 'malformed_token'],
    [{ version: '2.0', headers: { authorization: 'Bearer' } }, 'malformed_token'],
    [{ version: '2.0', headers: { authorization: 'Token a.b.c' } }, 'malformed_token'],
    [{ version: '2.0', headers: { authorization: 'Bearer a.b.c ' } }, 'malformed_token'],
    [{ version: '2.0', headers: { authorization: 'Bearer a,b' } }, 'malformed_token'],
    [{ version: '2.0', headers: { authorization: 'Bearer x', Authorization: 'Bearer y' } }, 'malformed_token'],
    [{ type: 'REQUEST', headers: { Authorization: 'Bearer x' }, multiValueHeaders: { Authorization: ['Bearer x', 'Bearer y'] } }, 'malformed_token'],
    [null, 'no_token'],
  ])('refuses %j as %s', (event, problem) => expect(bearerToken(event)).toEqual({ problem }));
});

describe('route scopes', () => {
  it('parses CA_ROUTE_SCOPES and refuses what is not a route key or a scope list', () => {
    expect(parseRouteScopes('{"GET /orders": ["orders:read"], "*": []}')).toEqual({ 'GET /orders': ['orders:read'], '*': [] });
    for (const bad of ['[', '[]', '{"get /x": []}', '{"GET orders": []}', '{"GET /x": "a"}', '{"GET /x": ["a b"]}', '{"GET /x": [1]}']) expect(() => parseRouteScopes(bad), bad).toThrow(/CA_ROUTE_SCOPES/);
  });

  it('matches route key, method and path, ANY, and falls back to *', () => {
    const scopes = { 'GET /orders/{id}': ['a'], 'GET /orders/1': ['b'], 'ANY /orders/1': ['c'], '*': ['z'] };
    const rest = { type: 'REQUEST', httpMethod: 'GET', resource: '/orders/{id}', path: '/orders/1' };
    expect(routeKeys(rest)).toEqual(['GET /orders/{id}', 'GET /orders/1', 'ANY /orders/{id}', 'ANY /orders/1']);
    expect(requiredScopes(scopes, rest)).toEqual(['a', 'b', 'c']);
    expect(requiredScopes(scopes, { type: 'REQUEST', httpMethod: 'POST', path: '/other' })).toEqual(['z']);
    expect(requiredScopes({ 'GET /x': ['a'] }, { type: 'REQUEST', httpMethod: 'POST', path: '/other' })).toEqual([]);
    expect(routeKeys({ type: 'TOKEN', methodArn: 'arn:aws:execute-api:r:1:api/stage/DELETE/orders/7' })).toEqual(['DELETE /orders/7', 'ANY /orders/7']);
    expect(hasScopes({ scope: 'a  b' }, ['a', 'b'])).toBe(true);
    expect(hasScopes({ scope: ['a', 'b'] }, ['a'])).toBe(false);
  });
});

describe('the token modes\' environment', () => {
  it('needs what each mode checks, and no registry table in the bearer-only modes', () => {
    expect(parseAuthorizerMode(undefined)).toBe('mtls');
    expect(parseAuthorizerMode(' MTLS+TOKEN ')).toBe('mtls+token');
    expect(() => parseAuthorizerMode('jwt')).toThrow(/CA_AUTHORIZER_MODE must be one of/);
    expect(readAuthorizerEnv({ AWS_REGION: 'r', CA_AUTHORIZER_MODE: 'jwt-jwks', CA_JWKS_URL: 'https://k.test/jwks', CA_JWT_ISSUER: 'i', CA_JWT_AUDIENCE: 'a' })).toMatchObject({ tableName: '', jwksUrl: 'https://k.test/jwks', config: { mode: 'jwt-jwks' }, token: { mode: 'jwt-jwks', issuer: 'i', audience: 'a' } });
    expect(() => readAuthorizerEnv({ AWS_REGION: 'r', CA_AUTHORIZER_MODE: 'mtls+token', CA_TOKEN_ISSUER: 'i', CA_TOKEN_AUDIENCE: 'a' })).toThrow(/CA_TABLE/);
    expect(() => readTokenEnv({ CA_JWT_ISSUER: 'i', CA_JWT_AUDIENCE: 'a' }, 'jwt-hs256')).toThrow(/exactly one of CA_JWT_SECRET_ARN/);
    expect(() => readTokenEnv({ CA_JWT_ISSUER: 'i', CA_JWT_AUDIENCE: 'a', CA_JWT_SECRET_ARN: 'x', CA_JWT_SECRET_PARAMETER: 'y' }, 'jwt-hs256')).toThrow(/exactly one/);
    expect(readTokenEnv({ CA_JWT_ISSUER: 'i', CA_JWT_AUDIENCE: 'a', CA_JWT_SECRET_PARAMETER: '/p' }, 'jwt-hs256').secret).toEqual({ kind: 'ssm', name: '/p' });
    expect(() => readTokenEnv({ CA_JWT_AUDIENCE: 'a', CA_JWKS_URL: 'https://k' }, 'spiffe-jwt-svid')).toThrow(/CA_SPIFFE_TRUST_DOMAIN/);
    expect(() => readTokenEnv({ CA_JWT_AUDIENCE: 'a', CA_JWKS_URL: 'https://k', CA_SPIFFE_TRUST_DOMAIN: 'Bad' }, 'spiffe-jwt-svid')).toThrow(/CA_SPIFFE_TRUST_DOMAIN/);
    expect(() => readTokenEnv({ CA_TOKEN_ISSUER: 'i' }, 'mtls+token')).toThrow(/CA_TOKEN_AUDIENCE/);
    expect(() => readTokenEnv({ CA_TOKEN_ISSUER: 'i', CA_TOKEN_AUDIENCE: 'a', CA_TOKEN_CLOCK_SKEW_S: '301' }, 'mtls+token')).toThrow(/CA_TOKEN_CLOCK_SKEW_S/);
    expect(() => readAuthorizerEnv({ CA_TABLE: 't', AWS_REGION: 'r', CA_ROUTE_SCOPES: '{' })).toThrow(/CA_ROUTE_SCOPES/);
  });
});
