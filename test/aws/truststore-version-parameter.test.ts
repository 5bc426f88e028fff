/**
 * The truststore version parameter (aws.truststoreVersionParameter): every publication leaves the S3 object version
 * in an SSM String parameter, which a deployed stack reads as the domain's TruststoreVersion ({{resolve:ssm:…}}), so
 * a stack update applies what ca published last. On moto, with the real SDK clients.
 */
import { describe, it, expect } from 'vitest';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { S3Truststore } from '../../src/adapters/aws/s3-truststore.js';
import { caAsync as ca, tempDir } from '../helpers/cli.js';
import { cliEnvFor, createBucket, createTable, unique, useMoto } from './moto-env.js';

const { clients, endpoint } = useMoto();
const PEM_A = '-----BEGIN CERTIFICATE-----\nMIIBAA==\n-----END CERTIFICATE-----\n';
const PEM_B = '-----BEGIN CERTIFICATE-----\nMIIBAQ==\n-----END CERTIFICATE-----\n';

async function setup() {
  const bucket = unique('ca-tsv');
  await createBucket(clients.s3, bucket);
  const name = `/${unique('ca')}/truststore/version`;
  const ts = new S3Truststore({ client: clients.s3, bucket, key: 'truststore.pem', warn: () => {}, versionParameter: { client: clients.ssm, name } });
  const read = async () => (await clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter!;
  return { ts, read, name, bucket };
}

describe('the truststore version parameter', () => {
  it('a parameter never written is drift once a truststore is published (a run stopped between S3 and SSM)', async () => {
    const { ts, name, bucket } = await setup();
    expect(await ts.drift()).toEqual([]);
    // the S3 write alone, as a run killed before the parameter would leave it
    await new S3Truststore({ client: clients.s3, bucket, key: 'truststore.pem', warn: () => {} }).sync(PEM_A);
    expect(await ts.drift()).toEqual([expect.stringMatching(new RegExp(`^SSM parameter ${name} holds nothing, not the published `))]);
    await ts.sync(PEM_A);
    expect(await ts.drift()).toEqual([]);
  });

  it('each publication writes the new object version; publishing the same content again writes nothing', async () => {
    const { ts, read } = await setup();
    const a = await ts.sync(PEM_A);
    expect(a.changed).toBe(true);
    const p1 = await read();
    expect(p1).toMatchObject({ Value: a.state.version, Type: 'String' });
    const again = await ts.sync(PEM_A);
    expect(again.changed).toBe(false);
    expect((await read()).Version).toBe(p1.Version);
    const b = await ts.sync(PEM_B);
    expect(b.state.version).not.toBe(a.state.version);
    expect(await read()).toMatchObject({ Value: b.state.version, Version: p1.Version! + 1 });
  });

  it('a parameter that lost the current version (a crash after the S3 write, or a hand edit) is repaired by the next sync', async () => {
    const { ts, read, name } = await setup();
    const a = await ts.sync(PEM_A);
    expect(await ts.drift()).toEqual([]);
    await clients.ssm.send(new PutParameterCommand({ Name: name, Value: 'an-old-version', Type: 'String', Overwrite: true }));
    expect(await ts.drift()).toEqual([`SSM parameter ${name} holds version an-old-version, not the published ${a.state.version}`]);
    const again = await ts.sync(PEM_A);
    expect(await ts.drift()).toEqual([]);
    expect(again.changed).toBe(false);
    expect((await read()).Value).toBe(a.state.version);
  });
});

describe('the real CLI with the version parameter', () => {
  it('a CA bootstrapped before the parameter was configured (or killed before writing it) is finished by a re-run of bootstrap; status warns until then', async () => {
    const bucket = unique('ca-tsv-cli');
    const table = unique('ca-tsv-cli');
    await createBucket(clients.s3, bucket);
    await createTable(clients.dynamodb, table);
    const dir = tempDir('ca-tsv-cli-');
    const base = cliEnvFor(endpoint, bucket, table);
    const name = `${base.CA_AWS_PARAMETER_PREFIX}/truststore/version`;
    expect((await ca(dir, ['bootstrap', '--json'], base)).code).toBe(0);
    const env = { ...base, CA_AWS_TRUSTSTORE_VERSION_PARAMETER: name };
    const status = await ca(dir, ['status', '--json'], env);
    expect(status.json().warnings).toContainEqual(expect.stringMatching(/^truststore: SSM parameter .* holds nothing, not the published .*: run `ca truststore publish` to repair it$/));
    const again = await ca(dir, ['bootstrap', '--json'], env);
    expect(again.code, again.stderr).toBe(0);
    expect(again.json().action).toBe('resumed');
    const published = (await ca(dir, ['truststore', 'show', '--json'], env)).json().version;
    expect((await clients.ssm.send(new GetParameterCommand({ Name: name }))).Parameter?.Value).toBe(published);
  });
});
