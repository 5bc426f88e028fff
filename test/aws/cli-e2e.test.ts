import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { caAsync as ca, openssl, tempDir } from '../helpers/cli.js';
import { createBucket, createTable, unique, useMoto, REGION } from './moto-env.js';
import { startFakeApiGateway, type FakeApiGateway } from './fake-api-gateway.js';

/**
 * The real `ca` binary on the AWS store, against moto on loopback (API Gateway's domain calls go to a loopback
 * stand-in, since moto has no mutual TLS domains); every effect is read back with the SDK.
 */
const { endpoint, clients } = useMoto();
let apigw: FakeApiGateway;

beforeAll(async () => {
  apigw = await startFakeApiGateway();
});
afterAll(async () => apigw.close());

function files(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
}

async function awsEnv(custody: 'ssm' | 'kms') {
  const bucket = unique('ca-cli');
  const table = unique('ca-cli');
  await createBucket(clients.s3, bucket);
  await createTable(clients.dynamodb, table);
  const rest = `${unique('api')}.example.com`;
  const http = `${unique('h')}.example.com`;
  apigw.add(rest, { type: 'rest', truststoreUri: `s3://${bucket}/truststore.pem`, truststoreVersion: 'none' });
  apigw.add(http, { type: 'http', truststoreUri: `s3://${bucket}/truststore.pem`, truststoreVersion: 'none', updatingPolls: 1 });
  const prefix = `/${unique('ca')}`;
  const env = {
    CA_STORE: 'aws',
    CA_AWS_REGION: REGION,
    CA_AWS_BUCKET: bucket,
    CA_AWS_TABLE: table,
    CA_AWS_PARAMETER_PREFIX: prefix,
    CA_AWS_KEY_CUSTODY: custody,
    CA_AWS_DOMAINS: `${rest}:rest,${http}:http`,
    AWS_ENDPOINT_URL: endpoint,
    AWS_ENDPOINT_URL_API_GATEWAY: apigw.endpoint,
    AWS_ENDPOINT_URL_APIGATEWAYV2: apigw.endpoint,
    AWS_ACCESS_KEY_ID: 'testing',
    AWS_SECRET_ACCESS_KEY: 'testing',
    AWS_REGION: REGION,
    CA_PASSPHRASE: undefined,
  };
  return { bucket, table, prefix, rest, http, env };
}

async function versions(bucket: string) {
  const v = await clients.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'truststore.pem' }));
  return (v.Versions ?? []).sort((a, b) => (a.LastModified!.getTime() - b.LastModified!.getTime()));
}

async function item(table: string, serial: string) {
  return (await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: `CERT#${serial}` } }, ConsistentRead: true }))).Item;
}

describe.each(['ssm', 'kms'] as const)('ca CLI on the AWS store (%s key custody)', (custody) => {
  const dir = tempDir(`ca-aws-${custody}-`);
  let e: Awaited<ReturnType<typeof awsEnv>>;
  const run = (...args: string[]) => ca(dir, [...args, '--json'], e.env);

  beforeAll(async () => {
    e = await awsEnv(custody);
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'partner.key'], dir);
    openssl(['req', '-new', '-key', 'partner.key', '-subj', '/CN=partner', '-out', 'partner.csr'], dir);
  });

  it('bootstrap, issue (key and CSR), revoke, rotate: every effect lands in AWS', async () => {
    const b = await run('bootstrap', '--org', 'Acme Corp', '--ca-name', 'Acme');
    expect(b.code, b.stderr).toBe(0);
    const boot = b.json();
    // the CA profile is recorded on the root's item, as JSON
    expect(JSON.parse((await item(e.table, boot.root.serial))!.profile!.S!)).toMatchObject({ organization: 'Acme Corp', caName: 'Acme', caKeyType: 'ec-p256' });
    expect(boot.truststore.changed).toBe(true);
    // files written on AWS: the truststore's S3 URI
    expect(boot.files).toEqual([`s3://${e.bucket}/truststore.pem`]);

    // S3: one version holding intermediate + root; both domains point at it
    let vs = await versions(e.bucket);
    expect(vs).toHaveLength(1);
    expect(boot.truststore.version).toBe(vs[0]!.VersionId);
    expect(apigw.domains.get(e.rest)!.truststoreVersion).toBe(vs[0]!.VersionId);
    expect(apigw.domains.get(e.http)!.truststoreVersion).toBe(vs[0]!.VersionId);

    // custody: SecureString parameters, or KMS SIGN_VERIFY keys; never a key on local disk
    const params = (await clients.ssm.send(new GetParametersByPathCommand({ Path: e.prefix, Recursive: true }))).Parameters ?? [];
    if (custody === 'ssm') {
      expect(params.filter((p) => p.Name!.startsWith(`${e.prefix}/ca/`)).length).toBe(2);
      expect(params.every((p) => p.Type === 'SecureString')).toBe(true);
    } else {
      expect(params).toHaveLength(0);
      const rootItem = await item(e.table, boot.root.serial);
      const keyRef = rootItem!.keyRef!.S!;
      const key = (await clients.kms.send(new DescribeKeyCommand({ KeyId: keyRef }))).KeyMetadata!;
      expect(key.KeyUsage).toBe('SIGN_VERIFY');
      expect(key.KeySpec).toBe('ECC_NIST_P256');
    }

    const acme = await run('issue-client', 'acme');
    expect(acme.code, acme.stderr).toBe(0);
    const partner = await run('issue-client', 'partner', '--csr', 'partner.csr', '--days', '30');
    expect(partner.code, partner.stderr).toBe(0);
    for (const c of [acme.json(), partner.json()]) {
      const it = await item(e.table, c.serial);
      expect(it!.status!.S).toBe('active');
      expect(it!.clientId!.S).toBe(c.clientId);
      expect(it!.fingerprint!.S).toBe(c.fingerprint);
    }
    // the client bundle is verified against the truststore exactly as S3 serves it
    const ts = await (await clients.s3.send(new GetObjectCommand({ Bucket: e.bucket, Key: 'truststore.pem' }))).Body!.transformToString();
    writeFileSync(join(dir, 's3-truststore.pem'), ts);
    expect(openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 's3-truststore.pem'), join(dir, 'bundles', 'acme', 'acme.crt')]).code).toBe(0);

    const rv = await run('revoke', 'acme', '--reason', 'keyCompromise', '--yes');
    expect(rv.code, rv.stderr).toBe(0);
    const revoked = await item(e.table, acme.json().serial);
    expect(revoked!.status!.S).toBe('revoked');
    expect(revoked!.revocationReason!.S).toBe('keyCompromise');

    const rot = await run('rotate-intermediate');
    expect(rot.code, rot.stderr).toBe(0);
    const r = rot.json();
    expect(r.reissued.map((x: { clientId: string }) => x.clientId)).toEqual(['partner']);
    // the rotation issues with the recorded profile and each client's recorded validity, not this run's defaults
    expect(r.intermediate.subject).toBe('CN=Acme Issuing CA G2, O=Acme Corp');
    expect(r.reissued[0].validityDays).toBe(30);
    expect((await item(e.table, r.reissued[0].serial))!.validityDays).toEqual({ N: '30' });
    vs = await versions(e.bucket);
    expect(vs).toHaveLength(2);
    const latest = vs[1]!.VersionId;
    expect(r.truststore.version).toBe(latest);
    // one new version, published before the clients moved: the run reports the truststore changed
    expect(r.truststore.changed).toBe(true);
    expect(r.files).toEqual([`s3://${e.bucket}/truststore.pem`]);
    expect(apigw.domains.get(e.rest)!.truststoreVersion).toBe(latest);
    expect(apigw.domains.get(e.http)!.truststoreVersion).toBe(latest);
    const ts2 = await (await clients.s3.send(new GetObjectCommand({ Bucket: e.bucket, Key: 'truststore.pem', VersionId: latest }))).Body!.transformToString();
    expect(ts2.match(/BEGIN CERTIFICATE/g)).toHaveLength(3);
    expect((await item(e.table, partner.json().serial))!.status!.S).toBe('superseded');
    expect((await item(e.table, r.reissued[0].serial))!.status!.S).toBe('active');

    // --deliver ssm: the bundle as SecureString parameters, the private key included, nothing on disk
    const delivered = await run('issue-client', 'delivered', '--deliver', 'ssm');
    expect(delivered.code, delivered.stderr).toBe(0);
    const clientParams = (await clients.ssm.send(new GetParametersByPathCommand({ Path: `${e.prefix}/clients/delivered`, Recursive: true }))).Parameters ?? [];
    expect(clientParams.map((p) => p.Name!.split('/').pop()).sort()).toEqual(['certificate', 'chain', 'private-key']);
    expect(clientParams.every((p) => p.Type === 'SecureString')).toBe(true);
    expect(delivered.stderr).toMatch(/10,000 parameters/);
    // files written: the SSM parameter names
    expect([...delivered.json().files].sort()).toEqual(clientParams.map((p) => p.Name).sort());

    const st = await run('status');
    expect(st.code, st.stderr).toBe(0);
    expect(st.json().truststore.inSync).toBe(true);

    // CA keys never touched the local disk
    for (const f of files(dir)) {
      const text = readFileSync(f, 'utf8');
      if (/PRIVATE KEY/.test(text)) expect(f).toMatch(/bundles\/acme\/acme\.key$|partner\.key$/);
      expect(f).not.toMatch(/delivered/);
    }
  });
});

describe('ca CLI on the AWS store: failures name the resource and change nothing', () => {
  it('a missing table is a storage error naming it, and nothing is published', async () => {
    const e = await awsEnv('ssm');
    const dir = tempDir('ca-aws-fail-');
    const r = await ca(dir, ['bootstrap'], { ...e.env, CA_AWS_TABLE: 'no-such-table' });
    expect(r.code).toBe(6);
    expect(r.stderr.split('\n')[0]).toMatch(/^error: .*no-such-table/);
    expect(await versions(e.bucket)).toHaveLength(0);
  });

  it('an SSM prefix under /aws is refused before any call', async () => {
    const e = await awsEnv('ssm');
    const r = await ca(tempDir(), ['bootstrap'], { ...e.env, CA_AWS_PARAMETER_PREFIX: '/aws/ca' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^error: .*aws/);
  });

  it('revoke does not depend on the bucket (an emergency must not wait on S3)', async () => {
    const e = await awsEnv('ssm');
    const dir = tempDir('ca-aws-rv-');
    expect((await ca(dir, ['bootstrap'], e.env)).code).toBe(0);
    expect((await ca(dir, ['issue-client', 'x'], e.env)).code).toBe(0);
    const r = await ca(dir, ['revoke', 'x', '--yes', '--json'], { ...e.env, CA_AWS_BUCKET: 'bucket-that-is-gone' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().revoked).toHaveLength(1);
    // the CRL cannot reach the bucket: said, not fatal
    expect(r.json().crls).toEqual([]);
    expect(r.json().warnings.join('\n')).toMatch(/CRLs were not re-signed: .*bucket-that-is-gone/);
  });
});
