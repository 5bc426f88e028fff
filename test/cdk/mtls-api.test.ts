/**
 * The MtlsApi construct, synthesized offline once per variant (beforeAll) with cdk-nag's AwsSolutions pack as a
 * validation plugin (a finding without an acknowledgement fails the synthesis), then read with aws-cdk-lib/assertions.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { MtlsApi, OUTPUTS, type MtlsApiProps } from '../../src/cdk/index.js';
import { ca, tempDir } from '../helpers/cli.js';
import { VENV_PYTHON } from '../helpers/moto.js';

const ROOT = join(import.meta.dirname, '..', '..');
const DOMAIN = { name: 'api.example.com', certificateArn: 'arn:aws:acm:eu-west-1:111122223333:certificate/0a1b2c3d-0000-4000-8000-000000000000' };

interface Synth {
  stack: Stack;
  api: MtlsApi;
  t: Template;
  json: any;
  assemblyDir: string;
}

function synth(props: MtlsApiProps, extra?: (stack: Stack, api: MtlsApi) => void): Synth {
  const app = new App({ analyticsReporting: false, outdir: tempDir('ca-cdk-out-') });
  const stack = new Stack(app, 'Ca', { env: { region: 'eu-west-1', account: '111122223333' } });
  const api = new MtlsApi(stack, 'Ca', props);
  extra?.(stack, api);
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const assembly = app.synth();
  const t = Template.fromStack(stack);
  return { stack, api, t, json: t.toJSON(), assemblyDir: assembly.directory };
}

const ofType = (json: any, type: string): [string, any][] => Object.entries(json.Resources).filter(([, r]: [string, any]) => r.Type === type) as [string, any][];
const one = (json: any, type: string): [string, any] => {
  const all = ofType(json, type);
  expect(all, type).toHaveLength(1);
  return all[0]!;
};

let http: Synth;
let simple: Synth;
let rest: Synth;
let store: Synth;
beforeAll(() => {
  http = synth({ domain: DOMAIN }, (_s, api) => {
    const token = new lambda.Function(api, 'TokenFn', { runtime: lambda.Runtime.NODEJS_22_X, handler: 'index.handler', code: lambda.Code.fromInline('exports.handler=async()=>({})'), architecture: lambda.Architecture.ARM_64 });
    Validations.of(token).acknowledge({ id: 'AwsSolutions::AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]', reason: 'test-only function' });
    Validations.of(token).acknowledge({ id: 'AwsSolutions::AwsSolutions-L1', reason: 'test-only function' });
    api.addRoute({ method: 'POST', path: '/token', target: { function: token }, authorize: false });
  });
  simple = synth({ domain: DOMAIN, responseMode: 'simple', target: { url: 'https://backend.example.com' }, keyCustody: 'kms' });
  rest = synth({ domain: DOMAIN, apiType: 'rest', keyCustody: 'kms' });
  store = synth({});
});

describe('MtlsApi: the store', () => {
  it('the truststore bucket is versioned, encrypted, private, TLS-only and retained', () => {
    for (const s of [http, store]) {
      const [id, bucket] = one(s.json, 'AWS::S3::Bucket');
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(bucket.UpdateReplacePolicy).toBe('Retain');
      expect(bucket.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
      expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0].ServerSideEncryptionByDefault.SSEAlgorithm).toBe('AES256');
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({ BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
      s.t.hasResourceProperties('AWS::S3::BucketPolicy', {
        Bucket: { Ref: id },
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 's3:*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    }
  });

  it('the registry table: partition key pk (string), on-demand, PITR, deletion protection, TTL on expiresAt, retained', () => {
    const [, table] = one(store.json, 'AWS::DynamoDB::Table');
    expect(table.DeletionPolicy).toBe('Retain');
    expect(table.UpdateReplacePolicy).toBe('Retain');
    expect(table.Properties).toMatchObject({
      KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      DeletionProtectionEnabled: true,
      TimeToLiveSpecification: { AttributeName: 'expiresAt', Enabled: true },
    });
  });

  it('the SecureString key rotates and is retained; with secureStringKey false there is none', () => {
    const [, key] = one(store.json, 'AWS::KMS::Key');
    expect(key.DeletionPolicy).toBe('Retain');
    expect(key.Properties.EnableKeyRotation).toBe(true);
    const none = synth({ secureStringKey: false });
    expect(ofType(none.json, 'AWS::KMS::Key')).toHaveLength(0);
    expect(none.json.Outputs[OUTPUTS.kmsKeyId]).toBeUndefined();
  });

  it('without a domain the stack is the store only: no function, no API, no domain', () => {
    const types = new Set(Object.values(store.json.Resources).map((r: any) => r.Type));
    expect([...types].sort()).toEqual(['AWS::DynamoDB::Table', 'AWS::IAM::ManagedPolicy', 'AWS::KMS::Key', 'AWS::S3::Bucket', 'AWS::S3::BucketPolicy']);
    expect(() => store.api.addRoute({ target: { url: 'https://x.example.com' } })).toThrow(/needs the `domain` prop/);
  });

  it('outputs carry every setting ca init --from-stack reads', () => {
    for (const k of ['region', 'bucket', 'truststoreKey', 'table', 'parameterPrefix', 'keyCustody', 'kmsKeyId', 'truststoreVersionParameter', 'operatorPolicy'] as const) {
      expect(store.json.Outputs[OUTPUTS[k]], k).toBeDefined();
    }
    expect(store.json.Outputs[OUTPUTS.domains]).toBeUndefined();
    expect(http.json.Outputs[OUTPUTS.domains].Value).toBe('api.example.com:http');
    expect(rest.json.Outputs[OUTPUTS.domains].Value).toBe('api.example.com:rest');
    expect(http.json.Outputs[OUTPUTS.regionalDomainName].Value).toEqual({ 'Fn::GetAtt': [one(http.json, 'AWS::ApiGatewayV2::DomainName')[0], 'RegionalDomainName'] });
    expect(store.json.Outputs[OUTPUTS.truststoreVersionParameter].Value).toBe('/ca/truststore/version');
    expect(simple.json.Outputs[OUTPUTS.keyCustody].Value).toBe('kms');
  });
});

describe('MtlsApi: the authorizer', () => {
  const fnOf = (s: Synth) => ofType(s.json, 'AWS::Lambda::Function').find(([, f]) => f.Properties.Handler === 'index.handler' && f.Properties.Environment?.Variables?.CA_TABLE)!;

  it('nodejs22.x on arm64, CA_TABLE is the table, log group with a retention, timeout within the HTTP API limit', () => {
    const [, fn] = fnOf(http);
    const [tableId] = one(http.json, 'AWS::DynamoDB::Table');
    expect(fn.Properties.Runtime).toBe('nodejs22.x');
    expect(fn.Properties.Architectures).toEqual(['arm64']);
    expect(fn.Properties.Timeout).toBeLessThanOrEqual(10);
    expect(fn.Properties.Environment.Variables.CA_TABLE).toEqual({ Ref: tableId });
    const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
    expect(http.json.Resources[logGroupId].Properties.RetentionInDays).toBe(365);
    expect(http.json.Resources[logGroupId].DeletionPolicy).toBe('Retain');
  });

  it('its role may only GetItem on the table and write its own log group (templates/iam/authorizer-policy.json)', () => {
    const [, fn] = fnOf(http);
    const role = http.json.Resources[fn.Properties.Role['Fn::GetAtt'][0]];
    expect(role.Properties.ManagedPolicyArns).toBeUndefined();
    const statements = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement);
    const [tableId] = one(http.json, 'AWS::DynamoDB::Table');
    const logGroupId = fn.Properties.LoggingConfig.LogGroup.Ref;
    expect(statements).toEqual([
      { Sid: 'ReadCertificateRecords', Effect: 'Allow', Action: 'dynamodb:GetItem', Resource: { 'Fn::GetAtt': [tableId, 'Arn'] } },
      { Sid: 'OwnLogs', Effect: 'Allow', Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [logGroupId, 'Arn'] } },
    ]);
    // the template users attach to a role of their own says the same about the registry
    const template = JSON.parse(readFileSync(join(ROOT, 'templates/iam/authorizer-policy.json'), 'utf8'));
    const registry = template.Statement.map((s: any) => ({ Sid: s.Sid, Action: s.Action }));
    expect(registry).toEqual([{ Sid: statements[0].Sid, Action: statements[0].Action }]);
  });

  it('the deployed code is the package\'s prebuilt bundle, byte for byte what `ca authorizer build` zips', () => {
    const [, fn] = fnOf(http);
    const assetHash = fn.Metadata?.['aws:asset:path'] ?? String(fn.Properties.Code.S3Key).replace(/\.zip$/, '');
    const assetDir = join(http.assemblyDir, String(assetHash).startsWith('asset.') ? assetHash : `asset.${assetHash}`);
    expect(readdirSync(assetDir)).toEqual(['index.mjs']);
    const deployed = readFileSync(join(assetDir, 'index.mjs'));
    const dir = tempDir('ca-cdk-bundle-');
    const r = ca(dir, ['authorizer', 'build', '--out', dir, '--json']);
    expect(r.code, r.stderr).toBe(0);
    // read the zip with Python's zipfile, not our own writer
    const built = execFileSync(VENV_PYTHON, ['-c', 'import sys,zipfile; sys.stdout.buffer.write(zipfile.ZipFile(sys.argv[1]).read("index.mjs"))', r.json().zipPath]);
    expect(deployed.equals(built)).toBe(true);
    expect(deployed.equals(readFileSync(join(ROOT, 'dist/lambda/index.mjs')))).toBe(true);
  });
});

describe('MtlsApi: the HTTP API and its mutual TLS domain', () => {
  it('the default execute-api endpoint is disabled', () => {
    http.t.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP', DisableExecuteApiEndpoint: true });
    rest.t.hasResourceProperties('AWS::ApiGateway::RestApi', { DisableExecuteApiEndpoint: true, EndpointConfiguration: { Types: ['REGIONAL'] } });
  });

  it('REQUEST authorizer, payload 2.0, result TTL 0, pointing at the authorizer function', () => {
    const [, authz] = one(http.json, 'AWS::ApiGatewayV2::Authorizer');
    expect(authz.Properties).toMatchObject({ AuthorizerType: 'REQUEST', AuthorizerPayloadFormatVersion: '2.0', AuthorizerResultTtlInSeconds: 0 });
    expect(JSON.stringify(authz.Properties.AuthorizerUri)).toContain('lambda:path/2015-03-31/functions/');
    const [, rauthz] = one(rest.json, 'AWS::ApiGateway::Authorizer');
    expect(rauthz.Properties).toMatchObject({ Type: 'REQUEST', AuthorizerResultTtlInSeconds: 0 });
  });

  it('the response format comes from one value: EnableSimpleResponses equals (CA_RESPONSE_MODE is simple), in both modes', () => {
    for (const [s, mode] of [[http, 'iam'], [simple, 'simple']] as const) {
      const [, authz] = one(s.json, 'AWS::ApiGatewayV2::Authorizer');
      const fnId = JSON.stringify(authz.Properties.AuthorizerUri).match(/"Fn::GetAtt":\["([A-Za-z0-9]+)","Arn"\]/)![1]!;
      const envMode = s.json.Resources[fnId].Properties.Environment.Variables.CA_RESPONSE_MODE;
      expect(envMode).toBe(mode);
      expect(authz.Properties.EnableSimpleResponses).toBe(envMode === 'simple');
    }
  });

  it('the Regional domain has mutual TLS from the bucket\'s truststore object, TLS 1.2, and the version from SSM, never a literal', () => {
    const [bucketId] = one(http.json, 'AWS::S3::Bucket');
    const [, domain] = one(http.json, 'AWS::ApiGatewayV2::DomainName');
    expect(domain.Properties.DomainNameConfigurations).toEqual([{ CertificateArn: DOMAIN.certificateArn, EndpointType: 'REGIONAL', SecurityPolicy: 'TLS_1_2' }]);
    expect(domain.Properties.MutualTlsAuthentication).toEqual({
      TruststoreUri: { 'Fn::Join': ['', ['s3://', { Ref: bucketId }, '/truststore.pem']] },
      TruststoreVersion: '{{resolve:ssm:/ca/truststore/version}}',
    });
    const [, rdomain] = one(rest.json, 'AWS::ApiGateway::DomainName');
    expect(rdomain.Properties).toMatchObject({ RegionalCertificateArn: DOMAIN.certificateArn, EndpointConfiguration: { Types: ['REGIONAL'] }, SecurityPolicy: 'TLS_1_2' });
    expect(rdomain.Properties.MutualTlsAuthentication.TruststoreVersion).toBe('{{resolve:ssm:/ca/truststore/version}}');
    one(http.json, 'AWS::ApiGatewayV2::ApiMapping');
    one(rest.json, 'AWS::ApiGateway::BasePathMapping');
  });

  it('routes: the default one to the sample backend behind the authorizer; addRoute adds more (an unauthorized POST /token here)', () => {
    const [authzId] = one(http.json, 'AWS::ApiGatewayV2::Authorizer');
    const routes = ofType(http.json, 'AWS::ApiGatewayV2::Route').map(([, r]) => r.Properties);
    expect(routes.map((r) => [r.RouteKey, r.AuthorizationType, r.AuthorizerId])).toEqual([
      ['ANY /{proxy+}', 'CUSTOM', { Ref: authzId }],
      ['POST /token', 'NONE', undefined],
    ]);
    const integrations = ofType(http.json, 'AWS::ApiGatewayV2::Integration').map(([, i]) => i.Properties);
    expect(integrations.map((i) => [i.IntegrationType, i.PayloadFormatVersion])).toEqual([['AWS_PROXY', '2.0'], ['AWS_PROXY', '2.0']]);
    // the user's HTTP backend as the default route
    simple.t.hasResourceProperties('AWS::ApiGatewayV2::Integration', { IntegrationType: 'HTTP_PROXY', IntegrationUri: 'https://backend.example.com', IntegrationMethod: 'ANY' });
    expect(ofType(simple.json, 'AWS::Lambda::Function').map(([, f]) => f.Properties.Description)).toEqual(['ca certificate authorizer (prebuilt bundle of the ca package)']);
    // REST: the proxy resource and an authorized method
    rest.t.hasResourceProperties('AWS::ApiGateway::Resource', { PathPart: '{proxy+}' });
    rest.t.hasResourceProperties('AWS::ApiGateway::Method', { HttpMethod: 'ANY', AuthorizationType: 'CUSTOM', Integration: { Type: 'AWS_PROXY' } });
  });

  it('a REST deployment is renewed when the routes change (its logical id hashes them), and only then', () => {
    const deploymentIds = (s: Synth) => ofType(s.json, 'AWS::ApiGateway::Deployment').map(([id]) => id);
    const [id] = deploymentIds(rest);
    expect(id).toMatch(/^CaRestDeployment[0-9a-f]{12}$/);
    const [stage] = ofType(rest.json, 'AWS::ApiGateway::Stage');
    expect(stage[1].Properties.DeploymentId).toEqual({ Ref: id });
    const same = synth({ domain: DOMAIN, apiType: 'rest', keyCustody: 'kms' });
    expect(deploymentIds(same)).toEqual([id]);
    const more = synth({ domain: DOMAIN, apiType: 'rest', keyCustody: 'kms' }, (_s, api) => api.addRoute({ method: 'GET', path: '/health', target: { url: 'https://backend.example.com' } }));
    expect(deploymentIds(more)).toHaveLength(1);
    expect(deploymentIds(more)[0]).not.toBe(id);
    expect(more.json.Resources[deploymentIds(more)[0]!].DependsOn.length).toBe(2);
  });

  it('the sample backend answers a payload 2.0 event with the path and what the authorizer passed on', async () => {
    const [, fn] = ofType(http.json, 'AWS::Lambda::Function').find(([, f]) => f.Properties.Code.ZipFile)!;
    const { runInNewContext } = await import('node:vm');
    const mod = { exports: {} as any };
    runInNewContext(fn.Properties.Code.ZipFile, { exports: mod.exports, module: mod });
    const r = await mod.exports.handler({ rawPath: '/hello', requestContext: { authorizer: { lambda: { clientId: 'acme' } } } });
    expect(r).toEqual({ statusCode: 200, headers: { 'content-type': 'application/json' }, body: JSON.stringify({ path: '/hello', authorizer: { clientId: 'acme' } }) });
  });

  it('API Gateway may invoke the authorizer only through this API\'s authorizer', () => {
    const [apiId] = one(http.json, 'AWS::ApiGatewayV2::Api');
    const [authzId] = one(http.json, 'AWS::ApiGatewayV2::Authorizer');
    const perms = ofType(http.json, 'AWS::Lambda::Permission').map(([, p]) => JSON.stringify(p.Properties.SourceArn));
    expect(perms.some((p) => p.includes(`{"Ref":"${apiId}"},"/authorizers/",{"Ref":"${authzId}"}`))).toBe(true);
  });

  it('access logs are on, with a retention', () => {
    const [, stage] = one(http.json, 'AWS::ApiGatewayV2::Stage');
    expect(stage.Properties).toMatchObject({ StageName: '$default', AutoDeploy: true });
    const lg = http.json.Resources[stage.Properties.AccessLogSettings.DestinationArn['Fn::GetAtt'][0]];
    expect(lg.Properties.RetentionInDays).toBe(365);
  });
});

describe('the truststore version stays owned by ca', () => {
  it('no synthesized template carries a literal TruststoreVersion: each is the SSM parameter ca writes', () => {
    for (const s of [http, simple, rest]) {
      const versions = [...JSON.stringify(s.json).matchAll(/"TruststoreVersion":("[^"]*"|\{)/g)].map((m) => m[1]);
      expect(versions.length).toBeGreaterThan(0);
      for (const v of versions) expect(v).toBe(`"{{resolve:ssm:${s.api.truststoreVersionParameter}}}"`);
    }
    const custom = synth({ domain: DOMAIN, parameterPrefix: '/acme/ca/' });
    expect(custom.api.truststoreVersionParameter).toBe('/acme/ca/truststore/version');
    expect(one(custom.json, 'AWS::ApiGatewayV2::DomainName')[1].Properties.MutualTlsAuthentication.TruststoreVersion).toBe('{{resolve:ssm:/acme/ca/truststore/version}}');
  });
});

describe('cfn-lint', () => {
  it('finds no error in the synthesized templates (HTTP, REST, store only)', () => {
    const dir = tempDir('ca-cfn-lint-');
    const files = [http, rest, store].map((s, i) => {
      const f = join(dir, `t${i}.json`);
      writeFileSync(f, JSON.stringify(s.json));
      return f;
    });
    const lint = join(ROOT, '.venv', 'bin', 'cfn-lint');
    let out = '';
    let code = 0;
    try {
      out = execFileSync(lint, ['--format', 'parseable', ...files], { encoding: 'utf8', timeout: 60_000 });
    } catch (e) {
      const err = e as { status: number; stdout: string };
      code = err.status;
      out = err.stdout;
    }
    // cfn-lint's exit code is a bit mask: 2 errors, 4 warnings, 8 informational
    const errors = out.split('\n').filter((l) => /:E\d{4}:/.test(l));
    expect(errors).toEqual([]);
    expect(code & 2).toBe(0);
  });
});

describe('cdk-nag', () => {
  it('is really checking: an unacknowledged finding next to the construct fails the synthesis', async () => {
    const { Bucket } = await import('aws-cdk-lib/aws-s3');
    expect(() => synth({}, (stack) => void new Bucket(stack, 'Unreviewed'))).toThrow(/AwsSolutions-S1/);
  });
});

describe('templates/iam stays what the construct grants', () => {
  /** A policy of the synthesized template as the placeholder text of templates/iam (resources rendered from refs). */
  function asTemplate(s: Synth, statements: any[]): any[] {
    const typeOf = (id: string) => s.json.Resources[id]?.Type;
    const render = (v: any): string => {
      if (typeof v === 'string') return v;
      if (v.Ref) {
        const pseudo: Record<string, string> = { 'AWS::Region': '__AWS_REGION__', 'AWS::AccountId': '__ACCOUNT_ID__', 'AWS::Partition': 'aws' };
        if (pseudo[v.Ref]) return pseudo[v.Ref]!;
        return ({ 'AWS::S3::Bucket': '__BUCKET__', 'AWS::DynamoDB::Table': '__TABLE__' } as Record<string, string>)[typeOf(v.Ref)]!;
      }
      if (v['Fn::GetAtt']?.[1] === 'Arn') {
        return ({
          'AWS::S3::Bucket': 'arn:aws:s3:::__BUCKET__',
          'AWS::DynamoDB::Table': 'arn:aws:dynamodb:__AWS_REGION__:__ACCOUNT_ID__:table/__TABLE__',
          'AWS::KMS::Key': 'arn:aws:kms:__AWS_REGION__:__ACCOUNT_ID__:key/__SSM_KMS_KEY_ID__',
        } as Record<string, string>)[typeOf(v['Fn::GetAtt'][0])]!;
      }
      if (v['Fn::Join']) return v['Fn::Join'][1].map(render).join(v['Fn::Join'][0]);
      throw new Error(`cannot render ${JSON.stringify(v)}`);
    };
    const deep = (v: any): any =>
      typeof v === 'string' || v.Ref || v['Fn::GetAtt'] || v['Fn::Join']
        ? render(v).replace('parameter/ca/*', 'parameter__PARAMETER_PREFIX__/*').replace('/truststore.pem', '/__TRUSTSTORE_KEY__').replace(DOMAIN.name, '__DOMAIN_NAME__')
        : Array.isArray(v)
          ? v.map(deep)
          : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, deep(x)]));
    const list = (x: any) => [x].flat();
    return statements.map((st) => ({ ...deep(st), Action: list(st.Action), Resource: list(deep(st.Resource)) }));
  }
  const normal = (statements: any[]) => statements.map((st) => ({ ...st, Action: [st.Action].flat(), Resource: [st.Resource].flat() }));

  it('the operator policy (kms custody, a domain) is templates/iam/ca-cli-policy.json, statement for statement', () => {
    const [, policy] = one(simple.json, 'AWS::IAM::ManagedPolicy');
    const template = JSON.parse(readFileSync(join(ROOT, 'templates/iam/ca-cli-policy.json'), 'utf8'));
    expect(asTemplate(simple, policy.Properties.PolicyDocument.Statement)).toEqual(normal(template.Statement));
  });

  it('the operator policy with ssm custody and no domain is that policy less the KMS CA key and API Gateway statements', () => {
    const [, policy] = one(store.json, 'AWS::IAM::ManagedPolicy');
    const template = JSON.parse(readFileSync(join(ROOT, 'templates/iam/ca-cli-policy.json'), 'utf8'));
    const want = template.Statement.filter((s: any) => !/^CaKeysInKms|^ApiGatewayDomains$/.test(s.Sid));
    expect(asTemplate(store, policy.Properties.PolicyDocument.Statement)).toEqual(normal(want));
  });

  it('the authorizer role\'s registry statement is templates/iam/authorizer-policy.json', () => {
    const role = ofType(http.json, 'AWS::IAM::Role').find(([, r]) => r.Properties.Description?.startsWith('ca authorizer'))![1];
    const statements = role.Properties.Policies.flatMap((p: any) => p.PolicyDocument.Statement).filter((s: any) => s.Sid !== 'OwnLogs');
    const template = JSON.parse(readFileSync(join(ROOT, 'templates/iam/authorizer-policy.json'), 'utf8'));
    expect(asTemplate(http, statements)).toEqual(normal(template.Statement));
  });
});
