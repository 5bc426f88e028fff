/**
 * CRLs on the AWS store: the real `ca` binary against moto on loopback, CA keys in SSM or in KMS (signing through
 * KMS Sign). The CRL objects are read back from S3 with the SDK and judged by OpenSSL.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3';
import { beforeAll, describe, expect, it } from 'vitest';
import { caAsync as ca, openssl, tempDir } from '../helpers/cli.js';
import { cliEnvFor, createBucket, createTable, unique, useMoto } from './moto-env.js';

const { endpoint, clients } = useMoto();

describe.each(['kms', 'ssm'] as const)('CRLs on the AWS store (%s key custody)', (custody) => {
  const dir = tempDir(`ca-crl-aws-${custody}-`);
  let env: Record<string, string | undefined>;
  let bucket: string;
  let table: string;
  const run = (...args: string[]) => ca(dir, [...args, '--json'], env);
  const object = async (key: string) => {
    const r = await clients.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return { bytes: Buffer.from(await r.Body!.transformToByteArray()), contentType: r.ContentType, version: r.VersionId };
  };

  beforeAll(async () => {
    bucket = unique('ca-crl');
    table = unique('ca-crl');
    await createBucket(clients.s3, bucket);
    await createTable(clients.dynamodb, table);
    env = { ...cliEnvFor(endpoint, bucket, table, { CA_AWS_KEY_CUSTODY: custody }), CA_PASSPHRASE: undefined };
    const b = await run('bootstrap');
    expect(b.code, b.stderr).toBe(0);
    for (const id of ['acme', 'other']) expect((await run('issue-client', id)).code).toBe(0);
  });

  it('ca crl publishes DER and PEM objects under crl/ that OpenSSL verifies against the intermediate; revoke re-signs them', async () => {
    const first = await run('crl');
    expect(first.code, first.stderr).toBe(0);
    const doc = first.json();
    const inter = doc.crls.find((c: any) => c.issuer.includes('Issuing'))!;
    expect(inter.files).toEqual([`s3://${bucket}/crl/${inter.issuerSerial}.crl`, `s3://${bucket}/crl/${inter.issuerSerial}.crl.pem`]);
    expect(doc.files).toHaveLength(4);

    const rv = await run('revoke', 'acme', '--reason', 'keyCompromise', '--yes');
    expect(rv.code, rv.stderr).toBe(0);
    const rvDoc = rv.json();
    const refreshed = rvDoc.crls.find((c: any) => c.issuerSerial === inter.issuerSerial);
    expect(refreshed).toMatchObject({ action: 'published', crlNumber: 2, revoked: [rvDoc.revoked[0].serial] });

    const der = await object(`crl/${inter.issuerSerial}.crl`);
    const pem = await object(`crl/${inter.issuerSerial}.crl.pem`);
    expect(der.contentType).toBe('application/pkix-crl');
    expect(pem.contentType).toBe('application/x-pem-file');
    expect(der.version).toBeTruthy();
    writeFileSync(join(dir, 'crl.der'), der.bytes);
    writeFileSync(join(dir, 'crl.pem'), pem.bytes);
    // the intermediate's certificate, as the registry holds it
    const item = (await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: `CERT#${inter.issuerSerial}` } }, ConsistentRead: true }))).Item!;
    writeFileSync(join(dir, 'intermediate.pem'), item.certificatePem!.S!);
    // the CRL number is a number attribute of the intermediate's item
    expect(item.crlNumber).toEqual({ N: '2' });

    const verified = openssl(['crl', '-in', 'crl.der', '-inform', 'DER', '-CAfile', 'intermediate.pem', '-verify', '-noout'], dir);
    expect(verified.code, verified.out).toBe(0);
    expect(verified.out).toMatch(/verify OK/);
    const text = openssl(['crl', '-in', 'crl.pem', '-noout', '-text'], dir).out;
    expect(text).toMatch(/Key Compromise/);
    expect(text.toLowerCase()).toContain(rvDoc.revoked[0].serial);

    // openssl verify with every CRL from S3 and the truststore from S3: refuses acme, accepts other
    const ts = await object('truststore.pem');
    writeFileSync(join(dir, 'truststore.pem'), ts.bytes);
    const rootPem = await object(`crl/${doc.crls.find((c: any) => c !== inter).issuerSerial}.crl.pem`);
    writeFileSync(join(dir, 'crls.pem'), Buffer.concat([pem.bytes, rootPem.bytes]));
    const refuse = openssl(['verify', '-x509_strict', '-crl_check_all', '-CAfile', 'truststore.pem', '-CRLfile', 'crls.pem', join('bundles', 'acme', 'acme.crt')], dir);
    expect(refuse.code).not.toBe(0);
    expect(refuse.out).toMatch(/certificate revoked/);
    const accept = openssl(['verify', '-x509_strict', '-crl_check_all', '-CAfile', 'truststore.pem', '-CRLfile', 'crls.pem', join('bundles', 'other', 'other.crt')], dir);
    expect(accept.code, accept.out).toBe(0);
    expect(readFileSync(join(dir, 'crl.pem'), 'utf8')).toMatch(/^-----BEGIN X509 CRL-----/);
  });

  it('a re-run of ca crl re-signs with the next number: a new object version each time', async () => {
    const before = (await clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `crl/${(await run('crl', '--dry-run')).json().crls[0].issuerSerial}.crl` }))).VersionId;
    const r = await run('crl', '--days', '2');
    expect(r.code, r.stderr).toBe(0);
    const c = r.json().crls[0];
    expect(c.crlNumber).toBeGreaterThanOrEqual(2);
    expect(Date.parse(c.nextUpdate) - Date.parse(c.thisUpdate)).toBe(2 * 24 * 3600 * 1000);
    const afterV = (await clients.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: `crl/${c.issuerSerial}.crl` }))).VersionId;
    expect(afterV).not.toBe(before);
  });
});
