/**
 * templates/cloudformation/mtls-api.json: the plain template for `aws cloudformation deploy` (or Terraform's
 * aws_cloudformation_stack), synthesized from the same MtlsApi construct by `npm run templates`.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { templateJson, TEMPLATE_FILE } from '../../src/cdk/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const file = join(ROOT, TEMPLATE_FILE);
let fresh: string;
let committed: any;
beforeAll(() => {
  fresh = templateJson();
  committed = JSON.parse(readFileSync(file, 'utf8'));
});

describe('the plain CloudFormation template', () => {
  it('is what the construct synthesizes now (else run `npm run templates` and commit the result)', () => {
    expect(readFileSync(file, 'utf8')).toBe(fresh);
  });

  it('creates the API part only with a DomainName (HasDomain), and the store always', () => {
    const byCondition = new Map<string, string[]>();
    for (const [id, r] of Object.entries<any>(committed.Resources)) byCondition.set(r.Condition ?? '-', [...(byCondition.get(r.Condition ?? '-') ?? []), r.Type]);
    expect([...byCondition.keys()].sort()).toEqual(['-', 'HasDomain']);
    expect(byCondition.get('-')!.sort()).toEqual(['AWS::DynamoDB::Table', 'AWS::IAM::ManagedPolicy', 'AWS::KMS::Key', 'AWS::S3::Bucket', 'AWS::S3::BucketPolicy']);
    expect(byCondition.get('HasDomain')).toEqual(expect.arrayContaining(['AWS::Lambda::Function', 'AWS::ApiGatewayV2::Api', 'AWS::ApiGatewayV2::Authorizer', 'AWS::ApiGatewayV2::DomainName', 'AWS::ApiGatewayV2::Route']));
    expect(committed.Conditions.HasDomain).toEqual({ 'Fn::Not': [{ 'Fn::Equals': [{ Ref: 'DomainName' }, ''] }] });
    for (const k of ['CaDomains', 'CaRegionalDomainName', 'CaAuthorizerFunction']) expect(committed.Outputs[k].Condition, k).toBe('HasDomain');
    expect(committed.Rules.DomainNeedsCertificateAndBackend.Assertions.map((a: any) => a.AssertDescription)).toEqual([expect.stringMatching(/^CertificateArn is required/), expect.stringMatching(/^BackendUrl is required/)]);
    expect(Object.keys(committed.Parameters).sort()).toEqual(['AuthorizerCodeKey', 'BackendUrl', 'CertificateArn', 'DomainName', 'ParameterPrefix']);
    // no CDK bootstrap, asset or metadata left in a template deployed without the CDK
    expect(fresh).not.toMatch(/BootstrapVersion|AssetParameters|cdk-hnb659fds|AWS::CDK::Metadata|aws:cdk:path/);
  });

  it('takes the authorizer from the truststore bucket, and the truststore version from the SSM parameter ca writes', () => {
    const [, fn] = Object.entries<any>(committed.Resources).find(([, r]) => r.Type === 'AWS::Lambda::Function' && r.Properties.Handler === 'index.handler')!;
    const [bucketId] = Object.entries<any>(committed.Resources).find(([, r]) => r.Type === 'AWS::S3::Bucket')!;
    expect(fn.Properties.Code).toEqual({ S3Bucket: { Ref: bucketId }, S3Key: { Ref: 'AuthorizerCodeKey' } });
    expect(fn.Properties).toMatchObject({ Runtime: 'nodejs22.x', Architectures: ['arm64'], Environment: { Variables: { CA_RESPONSE_MODE: 'iam' } } });
    const [, domain] = Object.entries<any>(committed.Resources).find(([, r]) => r.Type === 'AWS::ApiGatewayV2::DomainName')!;
    expect(domain.Properties.MutualTlsAuthentication.TruststoreVersion).toEqual({ 'Fn::Join': ['', ['{{resolve:ssm:', { Ref: 'ParameterPrefix' }, '/truststore/version}}']] });
    const [, authz] = Object.entries<any>(committed.Resources).find(([, r]) => r.Type === 'AWS::ApiGatewayV2::Authorizer')!;
    expect(authz.Properties).toMatchObject({ AuthorizerPayloadFormatVersion: '2.0', AuthorizerResultTtlInSeconds: 0, EnableSimpleResponses: false });
  });

  it('cfn-lint finds no error in it', () => {
    let out = '';
    let code = 0;
    try {
      out = execFileSync(join(ROOT, '.venv', 'bin', 'cfn-lint'), ['--format', 'parseable', file], { encoding: 'utf8', timeout: 60_000 });
    } catch (e) {
      const err = e as { status: number; stdout: string };
      code = err.status;
      out = err.stdout;
    }
    expect(out.split('\n').filter((l) => /:E\d{4}:/.test(l))).toEqual([]);
    // exit code bits: 2 errors, 4 warnings, 8 informational
    expect(code & 2).toBe(0);
  });
});
