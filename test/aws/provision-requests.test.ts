import { afterAll, describe, expect, it } from 'vitest';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { planCommit } from '../../src/adapters/aws/dynamodb-registry.js';
import type { CertificateRecord } from '../../src/ports.js';
import { caAsync as ca, tempDir } from '../helpers/cli.js';
import { startLossyProxy, type LossyProxy } from './lossy-proxy.js';
import { fakeRecord } from '../helpers/records.js';
import { cliEnvFor, createBucket, createTable, unique, useMoto, REGION } from './moto-env.js';

/**
 * `ca issue-client --from` on the AWS store, the real binary against moto, its DynamoDB requests counted by a
 * loopback proxy in front of moto that forwards every request and drops none (lossy-proxy.ts with `drop` off).
 */
const { endpoint, clients } = useMoto();
const proxies: LossyProxy[] = [];
afterAll(async () => {
  while (proxies.length) await proxies.pop()!.close();
});

describe('ca issue-client --from on the AWS store', () => {
  it('records N new clients in the minimum of TransactWriteItems: ceil(N / 49), 2 writes per client and the audit event, as the planner packs them', async () => {
    const dir = tempDir('ca-aws-from-');
    const bucket = unique('ca-from');
    const table = unique('ca-from');
    await createBucket(clients.s3, bucket);
    await createTable(clients.dynamodb, table);
    const proxy = await startLossyProxy({ upstream: endpoint, drop: () => false });
    proxies.push(proxy);
    // only DynamoDB goes through the counting proxy
    const env = cliEnvFor(endpoint, bucket, table, { CA_AWS_KEY_CUSTODY: 'ssm', AWS_ENDPOINT_URL_DYNAMODB: proxy.endpoint });
    const boot = await ca(dir, ['bootstrap', '--json'], env);
    expect(boot.code, boot.stderr).toBe(0);

    const n = 120;
    const ids = Array.from({ length: n }, (_, i) => `svc-${String(i).padStart(3, '0')}`);
    writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: ids.map((client_id) => ({ client_id })) }));
    proxy.requests.length = 0;
    const r = await ca(dir, ['issue-client', '--from', 'clients.json', '--out', 'bundles', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(readdirSync(join(dir, 'bundles')).filter((f) => !f.startsWith('.')).sort()).toEqual(ids);
    const transactions = proxy.requests.filter((q) => q.operation === 'TransactWriteItems');
    expect(transactions.every((q) => q.status === 200)).toBe(true);

    // what the planner makes of the same creates at once: 2 actions each (CERT# put, CLIENT# index), 49 a call
    // beside the audit event's 2 actions
    const records: CertificateRecord[] = ids.map((clientId, i) => fakeRecord({ serial: (i + 1).toString(16), clientId, subject: `CN=${clientId}` }));
    const minimum = planCommit(table, records.map((record) => ({ op: 'create' as const, record })), { audit: true }).length;
    expect(minimum).toBe(Math.ceil(n / 49));
    expect(transactions).toHaveLength(minimum);
  });
});
