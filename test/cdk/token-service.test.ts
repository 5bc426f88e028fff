/**
 * MtlsApi's token service (`tokenService`): the token function, its three routes and the authorizer of each, in
 * `mtls` and `mtls+token` modes, HTTP and REST. Synthesized offline with cdk-nag's AwsSolutions pack as a validation
 * plugin (an unacknowledged finding fails the synthesis), read with aws-cdk-lib/assertions, linted with cfn-lint. The
 * operator policy is checked against the KMS calls `ca token-key rotate` and `prune` really make (on moto).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, CfnCondition, Fn, Stack, Validations } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MtlsApi, type MtlsApiProps } from '../../src/cdk/index.js';
import { DynamoDbTokenKeySet, KmsTokenKeyCustody } from '../../src/adapters/aws/kms-token-keys.js';
import { fixedClock } from '../../src/domain/context.js';
import { pruneTokenKeys, rotateTokenKey } from '../../src/domain/token-keys.js';
import { tempDir } from '../helpers/cli.js';
import { createTable, unique, useMoto } from '../aws/moto-env.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DOMAIN = { name: 'api.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/0a1b2c3d-0000-4000-8000-000000000000' };
const SCOPES = { 'GET /orders': ['orders:read'], '*': ['api'] };

interface Synth {
  api: MtlsApi;
  json: any;
  assemblyDir: string;
}

function synth(props: MtlsApiProps): Synth {
  const app = new App({ analyticsReporting: false, outdir: tempDir('ca-cdk-token-') });
  const stack = new Stack(app, 'Ca', { env: { region: 'eu-west-1', account: '111122223333' } });
  const api = new MtlsApi(stack, 'Ca', props);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  return { api, json: Template.fromStack(stack).toJSON(), assemblyDir: assembly.directory };
}

const ofType = (json: any, type: string): [string, any][] => Object.entries(json.Resources).filter(([, r]: [string, any]) => r.Type === type) as [string, any][];
const fnBy = (s: Synth, description: RegExp): [string, any] => {
  const all = ofType(s.json, 'AWS::Lambda::Function').filter(([, f]) => description.test(f.Properties.Description));
  expect(all, String(description)).toHaveLength(1);
  return all[0]!;
};
const tokenFn = (s: Synth) => fnBy(s, /^ca token endpoint/);
/** the function id an API Gateway authorizer invokes */
const fnOfAuthorizer = (authz: any) => JSON.stringify(authz.Properties.AuthorizerUri).match(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/)![1]!;
const envOf = (s: Synth, fnId: string) => s.json.Resources[fnId].Properties.Environment.Variables;

/** route key → [authorization type, env of the authorizer function or undefined, integration's function id] (HTTP API) */
function httpRoutes(s: Synth): Record<string, [string, any, string]> {
  const out: Record<string, [string, any, string]> = {};
  for (const [, r] of ofType(s.json, 'AWS::ApiGatewayV2::Route')) {
    const p = r.Properties;
    const authz = p.AuthorizerId ? s.json.Resources[p.AuthorizerId.Ref] : undefined;
    const integration = s.json.Resources[p.Target['Fn::Join'][1][1].Ref];
    const target = JSON.stringify(integration.Properties.IntegrationUri).match(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/)?.[1] ?? integration.Properties.IntegrationUri;
    out[p.RouteKey] = [p.AuthorizationType, authz ? envOf(s, fnOfAuthorizer(authz)) : undefined, target];
    if (authz) expect(authz.Properties.AuthorizerResultTtlInSeconds).toBe(0);
  }
  return out;
}

let mtls: Synth;
let mixed: Synth;
let rest: Synth;
let store: Synth;
beforeAll(() => {
  mtls = synth({ domain: DOMAIN, tokenService: {} });
  mixed = synth({ domain: DOMAIN, authorizerMode: 'mtls+token', responseMode: 'simple', authorizerEnvironment: { CA_METRICS_NAMESPACE: 'Acme', CA_TOKEN_CACHE_TTL_MS: '1000' }, tokenService: { audience: 'https://orders.example.com', ttlSeconds: 600, routeScopes: SCOPES } });
  rest = synth({ domain: DOMAIN, apiType: 'rest', authorizerMode: 'mtls+token', tokenService: {} });
  store = synth({ tokenService: {} });
});

describe('tokenService: the token function', () => {
  it('nodejs22.x on arm64, its own retained log group with a retention; the environment names the domain as issuer and audience', () => {
    const [, fn] = tokenFn(mtls);
    const [tableId] = ofType(mtls.json, 'AWS::DynamoDB::Table')[0]!;
    expect(fn.Properties.Runtime).toBe('nodejs22.x');
    expect(fn.Properties.Architectures).toEqual(['arm64']);
    expect(fn.Properties.Handler).toBe('index.handler');
    expect(fn.Properties.Environment.Variables).toEqual({ CA_TABLE: { Ref: tableId }, CA_TOKEN_ISSUER: 'https://api.example.com', CA_TOKEN_AUDIENCE: 'https://api.example.com', CA_TOKEN_TTL_SECONDS: '300' });
    const logGroup = mtls.json.Resources[fn.Properties.LoggingConfig.LogGroup.Ref];
    expect(logGroup.Properties.RetentionInDays).toBe(365);
    expect(logGroup.DeletionPolicy).toBe('Retain');
    expect(envOf(mixed, tokenFn(mixed)[0])).toMatchObject({ CA_TOKEN_AUDIENCE: 'https://orders.example.com', CA_TOKEN_TTL_SECONDS: '600' });
  });

  it('the deployed code is the prebuilt token bundle (dist/lambda-token/index.mjs), alone in its asset', () => {
    const [, fn] = tokenFn(mtls);
    const assetHash = fn.Metadata?.['aws:asset:path'] ?? String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const assetDir = join(mtls.assemblyDir, String(assetHash).startsWith('asset.') ? assetHash : `asset.${assetHash}`);
    expect(readdirSync(assetDir)).toEqual(['index.mjs']);
    expect(readFileSync(join(assetDir, 'index.mjs')).equals(readFileSync(join(ROOT, 'dist/lambda-token/index.mjs')))).toBe(true);
  });

  it('its role: GetItem on the table and kms:Sign on token keys of this table only (templates/iam/token-policy.json), and its own logs', () => {
    const [, fn] = tokenFn(mtls);
    const role = mtls.json.Resources[fn.Properties.Role['Fn::GetAtt'][0]];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    const logs = statements.find((s: any) => s.Sid === 'OwnLogs');
    expect(logs.Resource).toEqual({ 'Fn::GetAtt': [fn.Properties.LoggingConfig.LogGroup.Ref, 'Arn'] });
    const template = JSON.parse(readFileSync(join(ROOT, 'templates/iam/token-policy.json'), 'utf8'));
    expect(asTemplate(mtls, statements.filter((s: any) => s.Sid !== 'OwnLogs'))).toEqual(normal(template.Statement));
  });

  it('no KMS key is created by the stack: ca token-key rotate creates them (the stack holds only the SecureString key)', () => {
    expect(ofType(mtls.json, 'AWS::KMS::Key').map(([, k]) => k.Properties.Description)).toEqual(['SecureString parameters of ca under /ca']);
  });
});

describe('tokenService: routes and their authorizers', () => {
  it('mtls mode: one authorizer; POST /token behind it, the discovery documents public, all three to the token function', () => {
    const [tokenId] = tokenFn(mtls);
    expect(ofType(mtls.json, 'AWS::ApiGatewayV2::Authorizer')).toHaveLength(1);
    const routes = httpRoutes(mtls);
    expect(Object.keys(routes)).toEqual(['ANY /{proxy+}', 'POST /token', 'GET /.well-known/jwks.json', 'GET /.well-known/oauth-authorization-server']);
    expect(routes['POST /token']![0]).toBe('CUSTOM');
    expect(routes['POST /token']![1].CA_AUTHORIZER_MODE).toBe('mtls');
    expect(routes['GET /.well-known/jwks.json']!.slice(0, 2)).toEqual(['NONE', undefined]);
    expect(routes['GET /.well-known/oauth-authorization-server']!.slice(0, 2)).toEqual(['NONE', undefined]);
    for (const k of ['POST /token', 'GET /.well-known/jwks.json', 'GET /.well-known/oauth-authorization-server']) expect(routes[k]![2], k).toBe(tokenId);
  });

  it('mtls+token: /token behind a second authorizer in mtls mode; the other routes\' authorizer checks the tokens with the token function\'s issuer and audience', () => {
    const authorizers = ofType(mixed.json, 'AWS::ApiGatewayV2::Authorizer');
    expect(authorizers).toHaveLength(2);
    for (const [, a] of authorizers) expect(a.Properties).toMatchObject({ AuthorizerType: 'REQUEST', AuthorizerResultTtlInSeconds: 0, EnableSimpleResponses: true });
    const routes = httpRoutes(mixed);
    const [tokenEnvAuthz, defaultEnvAuthz] = [routes['POST /token']![1], routes['ANY /{proxy+}']![1]];
    expect(tokenEnvAuthz).toMatchObject({ CA_AUTHORIZER_MODE: 'mtls', CA_RESPONSE_MODE: 'simple' });
    expect(tokenEnvAuthz.CA_TOKEN_ISSUER).toBeUndefined();
    // the API's certificate settings carry over to the token route's authorizer, its token settings do not
    expect(tokenEnvAuthz.CA_METRICS_NAMESPACE).toBe('Acme');
    expect(tokenEnvAuthz.CA_TOKEN_CACHE_TTL_MS).toBeUndefined();
    expect(defaultEnvAuthz).toMatchObject({ CA_AUTHORIZER_MODE: 'mtls+token', CA_RESPONSE_MODE: 'simple' });
    const fnEnv = envOf(mixed, tokenFn(mixed)[0]);
    expect(defaultEnvAuthz.CA_TOKEN_ISSUER).toBe(fnEnv.CA_TOKEN_ISSUER);
    expect(defaultEnvAuthz.CA_TOKEN_AUDIENCE).toBe(fnEnv.CA_TOKEN_AUDIENCE);
    expect(JSON.parse(defaultEnvAuthz.CA_ROUTE_SCOPES)).toEqual(SCOPES);
    expect(defaultEnvAuthz.CA_TABLE).toEqual(tokenEnvAuthz.CA_TABLE);
    // both authorizer functions run the same code, each may be invoked only through its own API authorizer
    const [mainId, tokId] = [fnBy(mixed, /^ca certificate authorizer \(/)[0], fnBy(mixed, /token route, mtls mode/)[0]];
    expect(mixed.json.Resources[mainId].Properties.Code).toEqual(mixed.json.Resources[tokId].Properties.Code);
    const perms = ofType(mixed.json, 'AWS::Lambda::Permission').map(([, p]) => JSON.stringify(p.Properties));
    for (const [authzId, a] of authorizers) expect(perms.some((p) => p.includes(`"Fn::GetAtt":["${fnOfAuthorizer(a)}","Arn"]`) && p.includes(`"/authorizers/",{"Ref":"${authzId}"}`)), authzId).toBe(true);
    // the token route's authorizer role is the authorizer's: GetItem on the table, its own logs
    const role = mixed.json.Resources[mixed.json.Resources[tokId].Properties.Role['Fn::GetAtt'][0]];
    expect(role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).map((s: any) => [s.Sid, s.Action])).toEqual([['ReadCertificateRecords', 'dynamodb:GetItem'], ['OwnLogs', ['logs:CreateLogStream', 'logs:PutLogEvents']]]);
    // the mtls+token authorizer's role adds BatchGetItem on the table (its cold start's key set and first record in
    // one read): templates/iam/authorizer-mtls-token-policy.json, statement for statement
    const mainRole = mixed.json.Resources[mixed.json.Resources[mainId].Properties.Role['Fn::GetAtt'][0]];
    expect(mainRole.Properties.Description).toBe('ca authorizer: dynamodb:GetItem and BatchGetItem on the registry, its own log group');
    const mainStatements = mainRole.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).filter((s: any) => s.Sid !== 'OwnLogs');
    const template = JSON.parse(readFileSync(join(ROOT, 'templates/iam/authorizer-mtls-token-policy.json'), 'utf8'));
    expect(asTemplate(mixed, mainStatements)).toEqual(normal(template.Statement));
  });

  it('REST, mtls+token: the same three methods, POST /token with the mtls-mode authorizer, the proxy with the token mode', () => {
    const authz = Object.fromEntries(ofType(rest.json, 'AWS::ApiGateway::Authorizer').map(([id, a]) => [id, envOf(rest, fnOfAuthorizer(a)).CA_AUTHORIZER_MODE]));
    expect(Object.values(authz).sort()).toEqual(['mtls', 'mtls+token']);
    for (const [, a] of ofType(rest.json, 'AWS::ApiGateway::Authorizer')) expect(a.Properties).toMatchObject({ Type: 'REQUEST', AuthorizerResultTtlInSeconds: 0 });
    const parts = Object.fromEntries(ofType(rest.json, 'AWS::ApiGateway::Resource').map(([id, r]) => [id, r.Properties]));
    const pathOf = (ref: any): string => (ref?.Ref && parts[ref.Ref] ? `${pathOf(parts[ref.Ref].ParentId)}/${parts[ref.Ref].PathPart}` : '');
    const methods = Object.fromEntries(ofType(rest.json, 'AWS::ApiGateway::Method').map(([, m]) => [`${m.Properties.HttpMethod} ${pathOf(m.Properties.ResourceId)}`, m.Properties.AuthorizerId ? authz[m.Properties.AuthorizerId.Ref] : m.Properties.AuthorizationType]));
    expect(methods).toEqual({ 'ANY /{proxy+}': 'mtls+token', 'POST /token': 'mtls', 'GET /.well-known/jwks.json': 'NONE', 'GET /.well-known/oauth-authorization-server': 'NONE' });
    const [, tokenEnvFn] = fnBy(rest, /^ca certificate authorizer \(/);
    expect(tokenEnvFn.Properties.Environment.Variables).toMatchObject({ CA_TOKEN_ISSUER: 'https://api.example.com', CA_TOKEN_AUDIENCE: 'https://api.example.com' });
    expect(tokenEnvFn.Properties.Environment.Variables.CA_ROUTE_SCOPES).toBeUndefined();
  });

  it('without tokenService nothing of it is there, and the API\'s authorizer mode is the prop', () => {
    const plain = synth({ domain: DOMAIN, authorizerMode: 'mtls+token', authorizerEnvironment: { CA_TOKEN_ISSUER: 'https://issuer.example.com', CA_TOKEN_AUDIENCE: 'https://api.example.com' } });
    expect(Object.keys(httpRoutes(plain))).toEqual(['ANY /{proxy+}']);
    expect(ofType(plain.json, 'AWS::Lambda::Function').map(([, f]) => f.Properties.Environment?.Variables?.CA_AUTHORIZER_MODE).filter(Boolean)).toEqual(['mtls+token']);
  });
});

describe('tokenService under apiCondition', () => {
  it('every resource of the token service is created under the API\'s condition', () => {
    const app = new App({ analyticsReporting: false, outdir: tempDir('ca-cdk-token-cond-') });
    const stack = new Stack(app, 'Ca', { env: { region: 'eu-west-1', account: '111122223333' } });
    const cond = new CfnCondition(stack, 'HasDomain', { expression: Fn.conditionEquals('a', 'a') });
    new MtlsApi(stack, 'Ca', { domain: DOMAIN, authorizerMode: 'mtls+token', tokenService: {}, apiCondition: cond });
    const json = Template.fromStack(stack).toJSON();
    const store = ['AWS::S3::Bucket', 'AWS::S3::BucketPolicy', 'AWS::DynamoDB::Table', 'AWS::KMS::Key', 'AWS::IAM::ManagedPolicy'];
    const api = Object.entries(json.Resources).filter(([, r]: [string, any]) => !store.includes(r.Type)) as [string, any][];
    expect(api.filter(([, r]) => r.Type === 'AWS::Lambda::Function')).toHaveLength(4); // authorizer, token route authorizer, token, sample
    expect(api.filter(([, r]) => r.Type === 'AWS::ApiGatewayV2::Route')).toHaveLength(4);
    for (const [id, r] of api) expect(r.Condition, id).toBe('HasDomain');
  });
});

describe('tokenService: refused combinations', () => {
  const refused: [string, MtlsApiProps, RegExp][] = [
    ['a bearer-only mode', { domain: DOMAIN, authorizerMode: 'jwt-jwks', authorizerEnvironment: { CA_JWKS_URL: 'https://x', CA_JWT_ISSUER: 'https://x', CA_JWT_AUDIENCE: 'a' }, tokenService: {} }, /tokenService needs authorizerMode mtls or mtls\+token, not jwt-jwks/],
    ['a TTL of 0', { domain: DOMAIN, tokenService: { ttlSeconds: 0 } }, /ttlSeconds must be a whole number from 1 to 3600, not 0/],
    ['a TTL over an hour', { domain: DOMAIN, tokenService: { ttlSeconds: 3601 } }, /ttlSeconds must be a whole number from 1 to 3600/],
    ['route scopes in mtls mode', { domain: DOMAIN, tokenService: { routeScopes: SCOPES } }, /routeScopes needs authorizerMode mtls\+token/],
    ['an issuer in authorizerEnvironment too', { domain: DOMAIN, authorizerMode: 'mtls+token', authorizerEnvironment: { CA_TOKEN_ISSUER: 'https://other.example.com' }, tokenService: {} }, /CA_TOKEN_ISSUER come from tokenService/],
    ['the mode in authorizerEnvironment', { domain: DOMAIN, authorizerEnvironment: { CA_AUTHORIZER_MODE: 'mtls+token' } }, /authorizerMode prop, not CA_AUTHORIZER_MODE/],
    ['mtls+token with neither tokenService nor issuer', { domain: DOMAIN, authorizerMode: 'mtls+token' }, /needs CA_TOKEN_ISSUER, CA_TOKEN_AUDIENCE in authorizerEnvironment \(or the tokenService prop/],
  ];
  for (const [what, props, error] of refused) it(`refuses ${what} with a construct error`, () => expect(() => synth(props)).toThrow(error));
});

describe('tokenService: the operator may do what ca token-key rotate and prune do on KMS', () => {
  const { clients } = useMoto();

  /** The KMS calls (action, input) of one rotate and one prune of the retired key, against moto with the real client. */
  async function tokenKeyCalls(table: string): Promise<{ action: string; input: any }[]> {
    const calls: { action: string; input: any }[] = [];
    clients.kms.middlewareStack.add(
      (next, context) => async (args) => {
        calls.push({ action: `kms:${String(context.commandName).replace(/Command$/, '')}`, input: args.input });
        return next(args);
      },
      { step: 'initialize', name: 'recordTokenKeyCalls' },
    );
    try {
      await createTable(clients.dynamodb, table);
      const deps = (ms: number) => ({ custody: new KmsTokenKeyCustody({ client: clients.kms, caName: table }), set: new DynamoDbTokenKeySet({ client: clients.dynamodb, tableName: table }), clock: fixedClock(new Date(Date.now() + ms)), lock: { assertHeld: async () => undefined } });
      await rotateTokenKey(deps(0));
      // a rotation whose key set write fails after CreateKey: the next one sweeps (ListKeys, ListResourceTags)
      const failing = deps(30_000);
      failing.set.save = async () => Promise.reject(new Error('killed'));
      await expect(rotateTokenKey(failing)).rejects.toThrow('killed');
      const second = await rotateTokenKey(deps(60_000));
      expect(second.swept).toHaveLength(1);
      await pruneTokenKeys(deps(Date.parse(second.entries[0]!.retireAfter!) - Date.now() + 1000));
    } finally {
      clients.kms.middlewareStack.remove('recordTokenKeyCalls');
    }
    return calls;
  }

  /** Whether an Allow statement of the policy grants the call: action, and its StringEquals / ForAllValues conditions. */
  function allowed(statements: any[], call: { action: string; input: any }, keyTags: Record<string, string>, table: string): boolean {
    // a key that does not exist yet has no resource tags: CreateKey, and TagResource as part of it
    const requestTags = Object.fromEntries((call.input.Tags ?? []).map((t: any) => [t.TagKey, t.TagValue]));
    const context: Record<string, string | string[]> = {
      'kms:KeyUsage': call.input.KeyUsage,
      'kms:KeySpec': call.input.KeySpec,
      'kms:SigningAlgorithm': call.input.SigningAlgorithm,
      'kms:MessageType': call.input.MessageType,
      'aws:TagKeys': Object.keys(requestTags),
      ...Object.fromEntries(Object.entries(requestTags).map(([k, v]) => [`aws:RequestTag/${k}`, v])),
      ...(call.action === 'kms:CreateKey' || call.action === 'kms:TagResource' ? {} : Object.fromEntries(Object.entries(keyTags).map(([k, v]) => [`aws:ResourceTag/${k}`, v]))),
    };
    const value = (v: any) => (typeof v === 'string' ? v : v?.Ref ? table : JSON.stringify(v));
    return statements.some((s) => {
      if (s.Effect !== 'Allow' || ![s.Action].flat().includes(call.action)) return false;
      const eq = Object.entries(s.Condition?.StringEquals ?? {}).every(([k, v]) => context[k] === value(v));
      const all = Object.entries(s.Condition?.['ForAllValues:StringEquals'] ?? {}).every(([k, v]) => [context[k] ?? []].flat().every((x) => ([v].flat() as string[]).includes(x)));
      return eq && all;
    });
  }

  it('ssm custody with tokenService: CreateKey (with its tags), GetPublicKey, DescribeKey, ScheduleKeyDeletion, and the sweep\'s ListKeys and ListResourceTags are each allowed, only on token keys', async () => {
    const table = unique('tokop');
    const calls = await tokenKeyCalls(table);
    const create = calls.find((c) => c.action === 'kms:CreateKey')!;
    expect(create.input.Tags.length).toBeGreaterThan(0);
    // CreateKey with Tags also needs kms:TagResource (AWS KMS: "To use the Tags parameter ... kms:TagResource")
    const needed = [...calls, { action: 'kms:TagResource', input: { Tags: create.input.Tags } }];
    expect(new Set(needed.map((c) => c.action))).toEqual(new Set(['kms:CreateKey', 'kms:TagResource', 'kms:GetPublicKey', 'kms:DescribeKey', 'kms:ScheduleKeyDeletion', 'kms:ListKeys', 'kms:ListResourceTags']));
    const keyTags = Object.fromEntries(create.input.Tags.map((t: any) => [t.TagKey, t.TagValue]));
    const statements = ofType(store.json, 'AWS::IAM::ManagedPolicy')[0]![1].Properties.PolicyDocument.Statement;
    for (const c of needed) expect(allowed(statements, c, keyTags, table), c.action).toBe(true);
    // and nothing for a key of another label (a CA key) or without tokenService
    expect(allowed(statements, { action: 'kms:GetPublicKey', input: {} }, { ...keyTags, 'ca:label': 'root' }, table)).toBe(false);
    const without = synth({}).json;
    const none = ofType(without, 'AWS::IAM::ManagedPolicy')[0]![1].Properties.PolicyDocument.Statement;
    expect(allowed(none, create, keyTags, table)).toBe(false);
    // kms custody: the CA key statements already cover the token keys (templates/iam/ca-cli-policy.json)
    // (the tags CreateKey carries are kms:TagResource, in a statement of their own, without kms:KeyUsage)
    const template = JSON.parse(readFileSync(join(ROOT, 'templates/iam/ca-cli-policy.json'), 'utf8')).Statement.map((s: any) => JSON.parse(JSON.stringify(s).replaceAll('__TABLE__', table)));
    for (const c of needed) expect(allowed(template, c, keyTags, table), `template ${c.action}`).toBe(true);
    const kms = ofType(synth({ keyCustody: 'kms', tokenService: {} }).json, 'AWS::IAM::ManagedPolicy')[0]![1].Properties.PolicyDocument.Statement;
    expect(kms.map((s: any) => s.Sid).filter((sid: string) => sid.includes('Kms'))).toEqual(['CaKeysInKmsCreate', 'CaKeysInKmsTagOnCreate', 'CaKeysInKmsUse', 'CaKeysInKmsList']);
  }, 60_000);

  it('the stack without a domain creates no function for it; its operator policy has the token key statements, nothing else of KMS keys', () => {
    expect(ofType(store.json, 'AWS::Lambda::Function')).toHaveLength(0);
    const sids = ofType(store.json, 'AWS::IAM::ManagedPolicy')[0]![1].Properties.PolicyDocument.Statement.map((s: any) => s.Sid);
    expect(sids.filter((sid: string) => /Kms/.test(sid))).toEqual(['TokenKeysInKmsCreate', 'TokenKeysInKmsTagOnCreate', 'TokenKeysInKmsUse', 'TokenKeysInKmsList']);
  });
});

describe('tokenService: cfn-lint', () => {
  it('finds no error in the synthesized templates (HTTP mtls, HTTP mtls+token, REST mtls+token)', () => {
    const dir = tempDir('ca-cfn-lint-token-');
    const files = [mtls, mixed, rest].map((s, i) => {
      const f = join(dir, `t${i}.json`);
      writeFileSync(f, JSON.stringify(s.json));
      return f;
    });
    let out = '';
    let code = 0;
    try {
      out = execFileSync(join(ROOT, '.venv', 'bin', 'cfn-lint'), ['--format', 'parseable', ...files], { encoding: 'utf8', timeout: 60_000 });
    } catch (e) {
      const err = e as { status: number; stdout: string };
      code = err.status;
      out = err.stdout;
    }
    expect(out.split('\n').filter((l) => /:E\d{4}:/.test(l))).toEqual([]);
    expect(code & 2).toBe(0);
  });
});

/** A policy of the synthesized template as the placeholder text of templates/iam (as in mtls-api.test.ts). */
function asTemplate(s: Synth, statements: any[]): any[] {
  const typeOf = (id: string) => s.json.Resources[id]?.Type;
  const render = (v: any): string => {
    if (typeof v === 'string') return v;
    if (v.Ref) {
      const pseudo: Record<string, string> = { 'AWS::Region': '__AWS_REGION__', 'AWS::AccountId': '__ACCOUNT_ID__', 'AWS::Partition': 'aws' };
      return pseudo[v.Ref] ?? ({ 'AWS::DynamoDB::Table': '__TABLE__' } as Record<string, string>)[typeOf(v.Ref)]!;
    }
    if (v['Fn::GetAtt']?.[1] === 'Arn' && typeOf(v['Fn::GetAtt'][0]) === 'AWS::DynamoDB::Table') return 'arn:aws:dynamodb:__AWS_REGION__:__ACCOUNT_ID__:table/__TABLE__';
    if (v['Fn::Join']) return v['Fn::Join'][1].map(render).join(v['Fn::Join'][0]);
    throw new Error(`cannot render ${JSON.stringify(v)}`);
  };
  const deep = (v: any): any => (typeof v === 'string' || v.Ref || v['Fn::GetAtt'] || v['Fn::Join'] ? render(v) : Array.isArray(v) ? v.map(deep) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)])));
  return statements.map((st) => ({ ...deep(st), Action: [st.Action].flat(), Resource: [deep(st.Resource)].flat() }));
}
const normal = (statements: any[]) => statements.map((st) => ({ ...st, Action: [st.Action].flat(), Resource: [st.Resource].flat() }));
