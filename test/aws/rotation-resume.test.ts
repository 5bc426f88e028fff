/**
 * On the AWS store (moto): a rotation that stopped after its last client was recorded keeps its progress in the
 * new intermediate's DynamoDB item, so the re-run finishes it instead of creating a third intermediate.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { createAwsStore } from '../../src/adapters/aws/aws-store.js';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { loadCaState } from '../../src/domain/ca-state.js';
import { systemClock, type OperationContext } from '../../src/domain/context.js';
import { bootstrap, rotateIntermediate } from '../../src/domain/hierarchy.js';
import { issueClient } from '../../src/domain/issuance.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import { createBucket, createTable, unique, useMoto } from './moto-env.js';

let env: ReturnType<typeof useMoto>;
const dirs: string[] = [];
beforeAll(() => {
  env = useMoto();
});
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

describe('rotation on the aws store', () => {
  it('stopped after its last client was recorded, is finished by the re-run with no third intermediate', async () => {
    const bucket = unique('resume-truststore');
    const table = unique('resume-registry');
    await createBucket(env.clients.s3, bucket);
    await createTable(env.clients.dynamodb, table);
    const store = await createAwsStore({ bucket, table, parameterPrefix: `/${unique('resume')}/prod`, keyCustody: 'ssm', domains: [] }, { warn: () => undefined });
    const bundles = mkdtempSync(join(tmpdir(), 'ca-resume-'));
    dirs.push(bundles);
    const ctx: OperationContext = { store, clock: systemClock, policy: DEFAULT_POLICY, sink: new DirectoryBundleSink(bundles) };
    const g1 = (await bootstrap(ctx)).intermediate!;
    for (const id of ['a', 'b']) await issueClient(ctx, { clientId: id });

    // the truststore's second publication comes after every client was recorded: the process dies there
    let publications = 0;
    const crashing: OperationContext = {
      ...ctx,
      store: {
        ...store,
        describe: () => store.describe(),
        truststore: {
          current: () => store.truststore.current(),
          drift: () => store.truststore.drift(),
          sync: async (pem) => {
            if (++publications === 2) throw new Error('simulated crash');
            return store.truststore.sync(pem);
          },
        },
      },
    };
    await expect(rotateIntermediate(crashing)).rejects.toThrow('simulated crash');
    const g2 = (await loadCaState(store.registry)).issuing!;
    expect(g2.serial).not.toBe(g1.serial);
    for (const c of await store.registry.list({ kind: 'client', status: 'active' })) expect(c.issuerSerial).toBe(g2.serial);
    const item = async () => (await env.clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: `CERT#${g2.serial}` } }, ConsistentRead: true }))).Item!;
    expect((await item()).rotatedFrom?.S).toBe(g1.serial);
    expect((await item()).rotationCompletedAt).toBeUndefined();

    const r = await rotateIntermediate(ctx);
    expect(r.plan.newIntermediate).toBe(false);
    expect(r.reissued).toEqual([]);
    expect(await store.registry.list({ kind: 'intermediate' })).toHaveLength(2);
    expect((await item()).rotationCompletedAt?.S).toBe(r.intermediate!.rotationCompletedAt);
    // and the next rotation is a new one
    expect((await rotateIntermediate(ctx)).plan.newIntermediate).toBe(true);
  });
});
