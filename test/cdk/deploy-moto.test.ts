/**
 * The plain CloudFormation template (templates/cloudformation/mtls-api.json, synthesized from MtlsApi) deployed to
 * moto's CloudFormation without a DomainName: the first deployment of README "Deploy", the store only. Every
 * resource the CLI then relies on is read back with its own service's API (moto reports CREATE_COMPLETE even for
 * resource types it skips, so the stack status proves nothing). Then the real `ca` binary is configured from the
 * stack's outputs (`ca init --from-stack`) and bootstraps, issues and rotates against what the stack created.
 * The API resources (HasDomain) are not deployed here: moto skips every AWS::ApiGatewayV2 resource and then fails
 * the update outright (a 500: the outputs' Fn::GetAtt of the skipped domain is an "undefined resource"), so the
 * second deployment of README "Deploy" is covered by test/cdk/mtls-api.test.ts and template.test.ts only
 * (assertions, cfn-lint, cdk-nag).
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CloudFormationClient, CreateStackCommand, DescribeStackResourcesCommand, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { DescribeTableCommand, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { execFileSync } from 'node:child_process';
import { ListKeysCommand } from '@aws-sdk/client-kms';
import { GetBucketEncryptionCommand, ListObjectVersionsCommand, PutBucketVersioningCommand } from '@aws-sdk/client-s3';
import { GetParameterCommand } from '@aws-sdk/client-ssm';
import { caAsync, tempDir } from '../helpers/cli.js';
import { VENV_PYTHON } from '../helpers/moto.js';
import { REGION, unique, useMoto } from '../aws/moto-env.js';

const ROOT = join(import.meta.dirname, '..', '..');
const { endpoint, clients } = useMoto();
const cfn = new CloudFormationClient({ region: REGION });
const stackName = unique('ca-stack');
const prefix = `/${unique('ca')}`;
const template = JSON.parse(readFileSync(join(ROOT, 'templates/cloudformation/mtls-api.json'), 'utf8'));
let physical: Map<string, string>;
let outputs: Map<string, string>;

/**
 * What moto 5.2.5's CloudFormation drops (read in its source: FakeBucket and Table create_from_cloudformation_json).
 * Each is asserted in the synthesized template instead (test/cdk/mtls-api.test.ts), which the drift test keeps equal
 * to this file; the bucket's versioning is then enabled through the S3 API so that `ca` can run.
 */
const MOTO_SKIPS = ['AWS::S3::BucketPolicy'];
const MOTO_DROPS = ['S3 VersioningConfiguration', 'S3 PublicAccessBlockConfiguration', 'DynamoDB TimeToLiveSpecification', 'DynamoDB PointInTimeRecoverySpecification'];

const env = { AWS_ENDPOINT_URL: endpoint, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing', AWS_REGION: REGION, CA_STORE: undefined, CA_ENV: undefined };
const idOf = (type: string) => {
  const ids = Object.entries(template.Resources).filter(([, r]: [string, any]) => r.Type === type && !r.Condition).map(([id]) => id);
  expect(ids, type).toHaveLength(1);
  return physical.get(ids[0]!)!;
};

beforeAll(async () => {
  await cfn.send(
    new CreateStackCommand({ StackName: stackName, TemplateBody: JSON.stringify(template), Parameters: [{ ParameterKey: 'ParameterPrefix', ParameterValue: prefix }], Capabilities: ['CAPABILITY_IAM'] }),
  );
  let status = '';
  for (let i = 0; i < 100 && !/COMPLETE|FAILED/.test(status); i++) {
    status = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks![0]!.StackStatus!;
    if (!/COMPLETE|FAILED/.test(status)) await new Promise((r) => setTimeout(r, 200));
  }
  expect(status).toBe('CREATE_COMPLETE');
  const res = (await cfn.send(new DescribeStackResourcesCommand({ StackName: stackName }))).StackResources ?? [];
  physical = new Map(res.map((r) => [r.LogicalResourceId!, r.PhysicalResourceId!]));
  const stack = (await cfn.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks![0]!;
  outputs = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey!, o.OutputValue!]));
});

describe('the store template on moto CloudFormation (no DomainName)', () => {
  it('creates the unconditional resources, none of the API ones (moto skips the bucket policy: not counted as tested here)', () => {
    const unconditional = Object.entries(template.Resources).filter(([, r]: [string, any]) => !r.Condition && !MOTO_SKIPS.includes(r.Type)).map(([id]) => id).sort();
    expect([...physical.keys()].filter((k) => physical.get(k)).sort()).toEqual(unconditional);
  });

  it('the bucket really exists, encrypted; the table really exists: key pk (string), on demand, deletion protection', async () => {
    const bucket = idOf('AWS::S3::Bucket');
    expect(outputs.get('CaBucket')).toBe(bucket);
    const enc = await clients.s3.send(new GetBucketEncryptionCommand({ Bucket: bucket }));
    expect(enc.ServerSideEncryptionConfiguration?.Rules?.[0]?.ApplyServerSideEncryptionByDefault?.SSEAlgorithm).toBe('AES256');
    const table = idOf('AWS::DynamoDB::Table');
    expect(outputs.get('CaTable')).toBe(table);
    const t = (await clients.dynamodb.send(new DescribeTableCommand({ TableName: table }))).Table!;
    expect(t.KeySchema).toEqual([{ AttributeName: 'pk', KeyType: 'HASH' }]);
    expect(t.AttributeDefinitions).toEqual([{ AttributeName: 'pk', AttributeType: 'S' }]);
    expect(t.BillingModeSummary?.BillingMode).toBe('PAY_PER_REQUEST');
    expect(t.DeletionProtectionEnabled).toBe(true);
    // what moto drops is in the template (the versioning is enabled by hand below, for ca's preflight)
    const [, b] = Object.entries(template.Resources).find(([, r]: [string, any]) => r.Type === 'AWS::S3::Bucket') as [string, any];
    const [, tt] = Object.entries(template.Resources).find(([, r]: [string, any]) => r.Type === 'AWS::DynamoDB::Table') as [string, any];
    expect(MOTO_DROPS).toHaveLength(4);
    expect(b.Properties.VersioningConfiguration).toEqual({ Status: 'Enabled' });
    expect(b.Properties.PublicAccessBlockConfiguration.BlockPublicPolicy).toBe(true);
    expect(tt.Properties.TimeToLiveSpecification).toEqual({ AttributeName: 'expiresAt', Enabled: true });
    expect(tt.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
  });

  it('the SecureString key really exists; the operator policy really exists with the statements of the template', async () => {
    const keyId = idOf('AWS::KMS::Key');
    // ListKeys, not DescribeKey: moto keeps a CloudFormation key's policy as an object and then fails DescribeKey and
    // GetKeyRotationStatus with a 500 (its bug; the rotation is asserted in the template)
    const keys = (await clients.kms.send(new ListKeysCommand({ Limit: 1000 }))).Keys ?? [];
    const key = keys.find((k) => k.KeyId === keyId);
    expect(key).toBeDefined();
    expect(outputs.get('CaSecureStringKeyArn')).toBe(key!.KeyArn);
    // no IAM client among the package's dependencies: boto3 (installed with moto) reads the policy
    const arn = idOf('AWS::IAM::ManagedPolicy');
    expect(outputs.get('CaOperatorPolicyArn')).toBe(arn);
    const script = 'import boto3,json,sys; c=boto3.client("iam",endpoint_url=sys.argv[1],region_name="us-east-1"); p=c.get_policy(PolicyArn=sys.argv[2])["Policy"]; print(json.dumps(c.get_policy_version(PolicyArn=sys.argv[2],VersionId=p["DefaultVersionId"])["PolicyVersion"]["Document"]))';
    const doc = JSON.parse(execFileSync(VENV_PYTHON, ['-c', script, endpoint, arn], { encoding: 'utf8', timeout: 30_000, env: { ...process.env, AWS_ACCESS_KEY_ID: 'testing', AWS_SECRET_ACCESS_KEY: 'testing' } }));
    // templates/iam/ca-cli-policy.json's statements, less the KMS CA key ones (custody ssm)
    const cli = JSON.parse(readFileSync(join(ROOT, 'templates/iam/ca-cli-policy.json'), 'utf8'));
    const want = cli.Statement.map((s: any) => s.Sid).filter((sid: string) => !sid.startsWith('CaKeysInKms'));
    expect(doc.Statement.map((s: any) => s.Sid)).toEqual(want);
    for (const st of doc.Statement) expect([st.Action].flat(), st.Sid).toEqual([cli.Statement.find((c: any) => c.Sid === st.Sid).Action].flat());
  });

  it('ca init --from-stack, then bootstrap, issue-client and rotate-intermediate on what the stack created; every publication lands in the version parameter', async () => {
    const dir = tempDir('ca-stack-');
    const bucket = idOf('AWS::S3::Bucket');
    const table = idOf('AWS::DynamoDB::Table');
    const init = await caAsync(dir, ['init', '--env', 'prod', '--from-stack', stackName, '--region', REGION, '--json'], env);
    expect(init.code, init.stderr).toBe(0);
    expect(init.json()).toMatchObject({
      stack: stackName,
      settings: { store: 'aws', aws: { region: REGION, bucket, table, truststoreKey: 'truststore.pem', parameterPrefix: prefix, keyCustody: 'ssm', truststoreVersionParameter: `${prefix}/truststore/version` } },
    });
    // moto's CloudFormation dropped VersioningConfiguration (see MOTO_DROPS); real CloudFormation applies it
    await clients.s3.send(new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }));
    const versionParameter = async () => (await clients.ssm.send(new GetParameterCommand({ Name: `${prefix}/truststore/version` }))).Parameter?.Value;
    const latest = async () => (await clients.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'truststore.pem' }))).Versions!.find((v) => v.IsLatest)!.VersionId;

    const boot = await caAsync(dir, ['bootstrap', '--json'], env);
    expect(boot.code, boot.stderr).toBe(0);
    const first = await latest();
    expect(await versionParameter()).toBe(first);
    const issued = await caAsync(dir, ['issue-client', 'acme', '--json'], env);
    expect(issued.code, issued.stderr).toBe(0);
    const serial = issued.json().serial;
    const item = await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: `CERT#${serial}` } }, ConsistentRead: true }));
    expect(item.Item?.clientId?.S).toBe('acme');
    const rotated = await caAsync(dir, ['rotate-intermediate', '--json'], env);
    expect(rotated.code, rotated.stderr).toBe(0);
    const second = await latest();
    expect(second).not.toBe(first);
    expect(await versionParameter()).toBe(second);
  });

  it('ca init --from-stack refuses a stack without ca\'s outputs (exit 3) and another --store (exit 2), writing nothing', async () => {
    const other = unique('not-ca');
    await cfn.send(new CreateStackCommand({ StackName: other, TemplateBody: JSON.stringify({ Resources: { B: { Type: 'AWS::S3::Bucket' } } }) }));
    const dir = tempDir('ca-stack-other-');
    const r = await caAsync(dir, ['init', '--from-stack', other, '--region', REGION], env);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/^error: CloudFormation stack .* has no output CaBucket, CaTable: it is not a ca stack$/m);
    const local = await caAsync(dir, ['init', '--from-stack', stackName, '--store', 'local', '--region', REGION], env);
    expect(local.code).toBe(2);
    expect(existsSync(join(dir, 'ca.config.json'))).toBe(false);
  });

  it('ca init --from-stack refuses a stack that does not exist (exit 4) and writes nothing', async () => {
    const dir = tempDir('ca-stack-missing-');
    const r = await caAsync(dir, ['init', '--from-stack', unique('nope'), '--region', REGION], env);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/^error: CloudFormation stack .* not found/m);
    expect(existsSync(join(dir, 'ca.config.json'))).toBe(false);
  });
});
