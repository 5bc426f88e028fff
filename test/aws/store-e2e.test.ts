import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetObjectCommand, ListObjectVersionsCommand } from '@aws-sdk/client-s3';
import { GetParameterCommand, GetParametersByPathCommand } from '@aws-sdk/client-ssm';
import { createAwsStore, createSsmBundleSink, type AwsStoreSettings } from '../../src/adapters/aws/aws-store.js';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { loadCaState } from '../../src/domain/ca-state.js';
import { systemClock, type OperationContext } from '../../src/domain/context.js';
import { checkCsr } from '../../src/domain/csr.js';
import { bootstrap, rotateIntermediate } from '../../src/domain/hierarchy.js';
import { issueClient } from '../../src/domain/issuance.js';
import { DEFAULT_POLICY, type CaPolicy } from '../../src/domain/policy.js';
import { revoke } from '../../src/domain/revocation.js';
import { buildTruststore } from '../../src/domain/truststore.js';
import type { BundleSink, Store } from '../../src/ports.js';
import { startFakeApiGateway, type FakeApiGateway } from './fake-api-gateway.js';
import { createBucket, createTable, unique, useMoto } from './moto-env.js';

let env: ReturnType<typeof useMoto>;
let apigw: FakeApiGateway;
const dirs: string[] = [];
const tmp = (p: string) => {
  const d = mkdtempSync(join(tmpdir(), p));
  dirs.push(d);
  return d;
};

beforeAll(async () => {
  env = useMoto();
  apigw = await startFakeApiGateway();
  process.env.AWS_ENDPOINT_URL_API_GATEWAY = apigw.endpoint;
  process.env.AWS_ENDPOINT_URL_APIGATEWAYV2 = apigw.endpoint;
});
afterAll(async () => {
  await apigw?.close();
  dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

interface Fixture {
  settings: AwsStoreSettings;
  store: Store;
  ctx: OperationContext;
  bundles: string;
  rest: string;
  http: string;
  warnings: string[];
}

async function fixture(custody: 'ssm' | 'kms', policy: CaPolicy = DEFAULT_POLICY, sink?: BundleSink): Promise<Fixture> {
  const bucket = unique('e2e-truststore');
  const table = unique('e2e-registry');
  await createBucket(env.clients.s3, bucket);
  await createTable(env.clients.dynamodb, table);
  const rest = `${unique('rest')}.example.com`;
  const http = `${unique('http')}.example.com`;
  const uri = `s3://${bucket}/truststore.pem`;
  apigw.add(rest, { type: 'rest', truststoreUri: uri });
  apigw.add(http, { type: 'http', truststoreUri: uri, updatingPolls: 2 });
  const settings: AwsStoreSettings = {
    bucket,
    table,
    parameterPrefix: `/${unique('e2e')}/prod`,
    keyCustody: custody,
    domains: [
      { name: rest, type: 'rest' },
      { name: http, type: 'http' },
    ],
  };
  const warnings: string[] = [];
  const store = await createAwsStore(settings, { warn: (m) => warnings.push(m), pollIntervalMs: 5 });
  const bundles = tmp('ca-e2e-bundles-');
  return { settings, store, bundles, rest, http, warnings, ctx: { store, clock: systemClock, policy, sink: sink ?? new DirectoryBundleSink(bundles) } };
}

async function s3Versions(bucket: string): Promise<{ id: string; latest: boolean; pem: string }[]> {
  const r = await env.clients.s3.send(new ListObjectVersionsCommand({ Bucket: bucket, Prefix: 'truststore.pem' }));
  return Promise.all(
    (r.Versions ?? []).map(async (v) => {
      const o = await env.clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'truststore.pem', VersionId: v.VersionId }));
      return { id: v.VersionId!, latest: !!v.IsLatest, pem: await o.Body!.transformToString() };
    }),
  );
}

async function item(table: string, pk: string) {
  return (await env.clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: pk } }, ConsistentRead: true }))).Item;
}

/** `openssl verify -x509_strict -purpose sslclient` against the truststore exactly as S3 holds it. */
function opensslVerify(truststorePem: string, certPem: string): void {
  const d = tmp('ca-e2e-verify-');
  writeFileSync(join(d, 'ts.pem'), truststorePem);
  writeFileSync(join(d, 'c.pem'), certPem);
  const r = spawnSync('openssl', ['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(d, 'ts.pem'), join(d, 'c.pem')], { encoding: 'utf8' });
  expect(r.stdout + r.stderr).toContain(': OK');
  expect(r.status).toBe(0);
}

function domainVersions(f: Fixture) {
  return [apigw.domains.get(f.rest)!.truststoreVersion, apigw.domains.get(f.http)!.truststoreVersion];
}

describe('aws store end to end on moto', () => {
  it('SSM custody: bootstrap, issue (generated key and CSR), revoke, rotate', async () => {
    const f = await fixture('ssm');
    const { bucket, table } = f.settings as Required<AwsStoreSettings>;

    const boot = await bootstrap(f.ctx);
    expect(boot.action).toBe('created');
    const root = boot.root!;
    const inter1 = boot.intermediate!;
    let versions = await s3Versions(bucket);
    expect(versions).toHaveLength(1);
    expect(versions[0]!.pem).toBe(inter1.certificatePem.trim() + '\n' + root.certificatePem.trim() + '\n');
    expect(domainVersions(f)).toEqual([versions[0]!.id, versions[0]!.id]);
    const httpUpdate = apigw.domains.get(f.http)!.updates[0] as { domainNameConfigurations: Record<string, string>[] };
    expect(httpUpdate.domainNameConfigurations[0]).toMatchObject({ certificateArn: expect.any(String), endpointType: 'REGIONAL', securityPolicy: 'TLS_1_2' });
    expect(httpUpdate.domainNameConfigurations[0]).not.toHaveProperty('domainNameStatus');

    for (const ca of [root, inter1]) {
      expect(ca.keyRef).toMatch(new RegExp(`^${f.settings.parameterPrefix}/ca/(root|intermediate)-[0-9a-f]{12}$`));
      const p = await env.clients.ssm.send(new GetParameterCommand({ Name: ca.keyRef! }));
      expect(p.Parameter?.Type).toBe('SecureString');
    }
    expect((await item(table, `CERT#${root.serial}`))?.status?.S).toBe('active');
    expect((await item(table, 'CA'))?.serials?.SS?.sort()).toEqual([root.serial, inter1.serial].sort());

    const generated = await issueClient(f.ctx, { clientId: 'svc-gen' });
    const keyDir = tmp('ca-e2e-csr-');
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(keyDir, 'k.pem'), '-out', join(keyDir, 'r.csr'), '-subj', '/CN=ignored'], { stdio: 'ignore' });
    const csr = checkCsr(readFileSync(join(keyDir, 'r.csr'), 'utf8'));
    const fromCsr = await issueClient(f.ctx, { clientId: 'svc-csr', csrPublicKeySpki: csr.publicKeySpki });
    const ts = versions[0]!.pem;
    for (const r of [generated.record!, fromCsr.record!]) {
      opensslVerify(ts, r.certificatePem);
      const it = await item(table, `CERT#${r.serial}`);
      expect(it?.status?.S).toBe('active');
      expect(it?.clientId?.S).toBe(r.clientId);
      expect((await item(table, `CLIENT#${r.clientId}`))?.activeSerial?.S).toBe(r.serial);
    }
    expect(readFileSync(join(f.bundles, 'svc-gen', 'svc-gen.crt'), 'utf8')).toBe(generated.record!.certificatePem);

    const revoked = await revoke(f.ctx, { clientId: 'svc-csr', reason: 'keyCompromise' });
    expect(revoked.revoked.map((r) => r.serial)).toEqual([fromCsr.record!.serial]);
    const rev = await item(table, `CERT#${fromCsr.record!.serial}`);
    expect(rev?.status?.S).toBe('revoked');
    expect(rev?.revocationReason?.S).toBe('keyCompromise');
    expect((await item(table, 'CLIENT#svc-csr'))?.activeSerial).toBeUndefined();

    const rot = await rotateIntermediate(f.ctx);
    const inter2 = rot.intermediate!;
    expect(rot.reissued.map((r) => r.clientId)).toEqual(['svc-gen']);
    versions = await s3Versions(bucket);
    expect(versions).toHaveLength(2);
    const latest = versions.find((v) => v.latest)!;
    expect(latest.pem).toBe([inter2, inter1, root].map((r) => r.certificatePem.trim() + '\n').join(''));
    expect(domainVersions(f)).toEqual([latest.id, latest.id]);
    expect((await item(table, `CERT#${inter1.serial}`))?.status?.S).toBe('superseded');
    expect((await item(table, `CERT#${inter2.serial}`))?.status?.S).toBe('active');
    const old = await item(table, `CERT#${generated.record!.serial}`);
    expect(old?.status?.S).toBe('superseded');
    expect(old?.graceUntil?.S).toBeDefined();
    const renewed = rot.reissued[0]!.record!;
    expect((await item(table, 'CLIENT#svc-gen'))?.activeSerial?.S).toBe(renewed.serial);
    opensslVerify(latest.pem, renewed.certificatePem);
    opensslVerify(latest.pem, generated.record!.certificatePem);
    expect(buildTruststore(await loadCaState(f.store.registry))).toBe(latest.pem);
    expect(f.warnings).toEqual([]);

    // nothing changed: no new S3 version, no domain update
    const again = await f.store.truststore.sync(latest.pem);
    expect(again.changed).toBe(false);
    expect(await s3Versions(bucket)).toHaveLength(2);
  });

  it('KMS custody: keys are SIGN_VERIFY of the policy spec and sign what openssl accepts', async () => {
    for (const caKeyType of ['ec-p256', 'rsa-2048'] as const) {
      const f = await fixture('kms', { ...DEFAULT_POLICY, caKeyType });
      const boot = await bootstrap(f.ctx);
      const ts = (await s3Versions(f.settings.bucket!))[0]!.pem;
      for (const ca of [boot.root!, boot.intermediate!]) {
        expect(ca.keyRef).toMatch(/^arn:aws:kms:us-east-1:\d{12}:key\//);
        const k = await env.clients.kms.send(new DescribeKeyCommand({ KeyId: ca.keyRef! }));
        expect(k.KeyMetadata?.KeyUsage).toBe('SIGN_VERIFY');
        expect(k.KeyMetadata?.KeySpec).toBe(caKeyType === 'ec-p256' ? 'ECC_NIST_P256' : 'RSA_2048');
      }
      const issued = await issueClient(f.ctx, { clientId: `svc-${caKeyType}` });
      opensslVerify(ts, issued.record!.certificatePem);
      const rot = await rotateIntermediate(f.ctx);
      const latest = (await s3Versions(f.settings.bucket!)).find((v) => v.latest)!.pem;
      opensslVerify(latest, rot.reissued[0]!.record!.certificatePem);
    }
  });

  it('delivers bundles to SSM as SecureString parameters', async () => {
    const prefix = `/${unique('e2e-deliver')}`;
    const warned: string[] = [];
    const sink = createSsmBundleSink({ parameterPrefix: prefix }, { warn: (m) => warned.push(m) });
    const f = await fixture('ssm', DEFAULT_POLICY, sink);
    await bootstrap(f.ctx);
    const issued = await issueClient(f.ctx, { clientId: 'svc-ssm' });
    await issueClient(f.ctx, { clientId: 'svc-ssm-2' });
    expect(issued.delivered.sort()).toEqual([`${prefix}/clients/svc-ssm/certificate`, `${prefix}/clients/svc-ssm/chain`, `${prefix}/clients/svc-ssm/private-key`]);
    const params = await env.clients.ssm.send(new GetParametersByPathCommand({ Path: `${prefix}/clients/svc-ssm`, WithDecryption: true }));
    expect(params.Parameters?.map((p) => p.Type)).toEqual(['SecureString', 'SecureString', 'SecureString']);
    expect(params.Parameters?.find((p) => p.Name!.endsWith('/certificate'))?.Value).toBe(issued.record!.certificatePem);
    expect(warned).toHaveLength(1);
    expect(warned[0]).toMatch(/10,000 parameters/);
  });
});

