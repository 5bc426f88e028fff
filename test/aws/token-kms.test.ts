import { X509Certificate, createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { DescribeKeyCommand } from '@aws-sdk/client-kms';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { DynamoDbTokenKeySet, KmsTokenKeyCustody } from '../../src/adapters/aws/kms-token-keys.js';
import { DynamoDbRegistry } from '../../src/adapters/aws/dynamodb-registry.js';
import { issueClient } from '../../src/domain/issuance.js';
import { fixedClock, systemClock } from '../../src/domain/context.js';
import { jwksOf, pruneTokenKeys, rotateTokenKey } from '../../src/domain/token-keys.js';
import { TOKEN_JWKS_KEY } from '../../src/domain/token-claims.js';
import { makePki, type TestPki } from '../lambda/pki.js';
import { clientCertOf } from '../lambda/events.js';
import { pyjwtVerify } from '../helpers/pyjwt.js';
import { cliEnvFor, createTable, unique, useMoto } from './moto-env.js';
import { ca, tempDir } from '../helpers/cli.js';

/** Token keys in KMS (ECC_NIST_P256, Sign ECDSA_SHA_256 over RAW messages) and the key set item, on moto. */
const { clients, endpoint } = useMoto();
const table = unique('tok');
const held = { assertHeld: async () => undefined };
let pki: TestPki;

beforeAll(async () => {
  await createTable(clients.dynamodb, table);
  pki = await makePki({ name: 'ca-token-kms' });
}, 60_000);
afterAll(() => pki?.cleanup());

describe('KMS token keys', () => {
  it('signs compact JWS with KMS that jose and PyJWT verify against the published JWKS, for many signatures', async () => {
    const custody = new KmsTokenKeyCustody({ client: clients.kms, caName: table });
    const { keyRef, jwk } = await custody.create();
    expect(keyRef).toMatch(/^arn:aws:kms:/);
    expect(jwk).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig' });
    const signer = await custody.signer({ kid: jwk.kid, keyRef });
    const jwks = { keys: [jwk] };
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < 20; i++) {
      const jwt = await signer.signJwt({ typ: 'at+jwt' }, { iss: 'https://i', aud: 'https://a', sub: 'c', client_id: 'c', iat: now, exp: now + 60, jti: String(i) });
      const sig = Buffer.from(jwt.split('.')[2]!, 'base64url');
      expect(sig.length).toBe(64);
      const { protectedHeader } = await jwtVerify(jwt, createLocalJWKSet(jwks), { algorithms: ['ES256'], typ: 'at+jwt', issuer: 'https://i', audience: 'https://a' });
      expect(protectedHeader).toEqual({ typ: 'at+jwt', alg: 'ES256', kid: jwk.kid });
      if (i < 3) expect(pyjwtVerify(jwt, jwks, { audience: 'https://a', issuer: 'https://i', now }).ok).toBe(true);
    }
  });

  it('the key set lives in the registry table\'s TOKEN#JWKS item (jwks, updatedAt, keys); prune schedules the retired KMS key\'s deletion', async () => {
    const deps = (ms: number) => ({ custody: new KmsTokenKeyCustody({ client: clients.kms, caName: table }), set: new DynamoDbTokenKeySet({ client: clients.dynamodb, tableName: table }), clock: fixedClock(new Date(Date.now() + ms)), lock: held });
    const first = await rotateTokenKey(deps(0));
    const second = await rotateTokenKey(deps(60_000));
    const item = (await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: TOKEN_JWKS_KEY } }, ConsistentRead: true }))).Item!;
    expect(Object.keys(item).sort()).toEqual(['jwks', 'keys', 'pk', 'updatedAt']);
    const published = JSON.parse(item.jwks!.S!);
    expect(published.keys.map((k: { kid: string }) => k.kid)).toEqual([first.added!.kid, second.added!.kid]);
    expect(published.keys[0]).toEqual(first.added!.jwk);
    expect(Date.parse(item.updatedAt!.S!)).toBeGreaterThan(0);
    const retireAfter = Date.parse(second.entries[0]!.retireAfter!) - Date.now();
    const pruned = await pruneTokenKeys(deps(retireAfter + 1000));
    expect(pruned.removed.map((e) => e.kid)).toEqual([first.added!.kid]);
    const d = await clients.kms.send(new DescribeKeyCommand({ KeyId: first.added!.keyRef }));
    expect(d.KeyMetadata?.KeyState).toBe('PendingDeletion');
    expect(JSON.parse((await clients.dynamodb.send(new GetItemCommand({ TableName: table, Key: { pk: { S: TOKEN_JWKS_KEY } } }))).Item!.jwks!.S!).keys).toHaveLength(1);
  });

  it('a rotation that died after CreateKey leaves the mark; the next one schedules that key\'s deletion, and no key of another CA or label', async () => {
    const t3 = unique('toksweep');
    await createTable(clients.dynamodb, t3);
    const set = new DynamoDbTokenKeySet({ client: clients.dynamodb, tableName: t3 });
    const deps = (ms: number, s = set) => ({ custody: new KmsTokenKeyCustody({ client: clients.kms, caName: t3 }), set: s, clock: fixedClock(new Date(Date.now() + ms)), lock: held });
    const first = await rotateTokenKey(deps(0));
    // keys that are not this CA's orphans: another CA's token key, and a key of this CA that is not a token key
    const other = await new KmsTokenKeyCustody({ client: clients.kms, caName: unique('other') }).create();
    const { CreateKeyCommand } = await import('@aws-sdk/client-kms');
    const caKey = (await clients.kms.send(new CreateKeyCommand({ KeySpec: 'ECC_NIST_P256', KeyUsage: 'SIGN_VERIFY', Tags: [{ TagKey: 'ca:name', TagValue: t3 }, { TagKey: 'ca:label', TagValue: 'root' }] }))).KeyMetadata!.Arn!;
    // the key set write fails (as a kill there would leave it): a KMS key made, never published
    const failing = Object.assign(Object.create(Object.getPrototypeOf(set)), set, { save: async () => Promise.reject(new Error('killed')) });
    const made: string[] = [];
    const custody = new KmsTokenKeyCustody({ client: clients.kms, caName: t3 });
    const create = custody.create.bind(custody);
    custody.create = async () => {
      const r = await create();
      made.push(r.keyRef);
      return r;
    };
    await expect(rotateTokenKey({ ...deps(60_000, failing), custody })).rejects.toThrow('killed');
    expect(made).toHaveLength(1);
    expect(await set.pendingSince()).toBeDefined();
    expect((await set.load()).map((e) => e.kid)).toEqual([first.added!.kid]);

    const next = await rotateTokenKey(deps(120_000));
    expect(next.swept).toEqual([made[0]]);
    const state = async (ref: string) => (await clients.kms.send(new DescribeKeyCommand({ KeyId: ref }))).KeyMetadata?.KeyState;
    expect(await state(made[0]!)).toBe('PendingDeletion');
    for (const ref of [first.added!.keyRef, next.added!.keyRef, other.keyRef, caKey]) expect(await state(ref), ref).toBe('Enabled');
    expect(await set.pendingSince()).toBeUndefined();
    const item = (await clients.dynamodb.send(new GetItemCommand({ TableName: t3, Key: { pk: { S: TOKEN_JWKS_KEY } }, ConsistentRead: true }))).Item!;
    expect(Object.keys(item).sort()).toEqual(['jwks', 'keys', 'pk', 'updatedAt']);
  }, 60_000);

  it('the token Lambda (src/lambda/token-handler.ts) on moto: registry GetItem, key set item, KMS Sign; PyJWT verifies the token', async () => {
    // a fresh table: its own key set, whose first key signs at once
    const t2 = unique('tokfn');
    await createTable(clients.dynamodb, t2);
    const registry = new DynamoDbRegistry({ client: clients.dynamodb, tableName: t2 });
    const rec = (await issueClient(pki.ctx(), { clientId: 'acme', scopes: ['orders:read'], audiences: ['https://api.example.com'] })).record!;
    const cas = await pki.store.registry.list({ kind: 'intermediate' });
    const roots = await pki.store.registry.list({ kind: 'root' });
    await registry.commit([...roots, ...cas, rec].map((record) => ({ op: 'create' as const, record })));
    const set = new DynamoDbTokenKeySet({ client: clients.dynamodb, tableName: t2 });
    await rotateTokenKey({ custody: new KmsTokenKeyCustody({ client: clients.kms, caName: t2 }), set, clock: systemClock, lock: held });
    process.env.CA_TABLE = t2;
    process.env.CA_TOKEN_ISSUER = 'https://auth.example.com';
    const { handler } = await import('../../src/lambda/token-handler.js');
    const event = {
      version: '2.0',
      rawPath: '/token',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      requestContext: { domainName: 'auth.example.com', stage: '$default', http: { method: 'POST', path: '/token' }, authentication: { clientCert: clientCertOf(rec.certificatePem) } },
      body: 'grant_type=client_credentials&client_id=acme',
      isBase64Encoded: false,
    };
    const r = await handler(event);
    expect(r.statusCode, r.body).toBe(200);
    const body = JSON.parse(r.body);
    const jwks = jwksOf(await set.load());
    const v = pyjwtVerify(body.access_token, jwks, { audience: 'https://api.example.com', issuer: 'https://auth.example.com', now: Math.floor(Date.now() / 1000) });
    expect(v.error).toBeUndefined();
    expect(v.claims).toMatchObject({ sub: 'acme', client_id: 'acme', scope: 'orders:read', cnf: { 'x5t#S256': createHash('sha256').update(new X509Certificate(rec.certificatePem).raw).digest('base64url') } });
    const j = await handler({ ...event, rawPath: '/.well-known/jwks.json', requestContext: { ...event.requestContext, http: { method: 'GET', path: '/.well-known/jwks.json' } } });
    expect(JSON.parse(j.body)).toEqual(jwks);
  });

  it('ca token-key rotate and list on the aws store: the key in KMS, the set in the TOKEN#JWKS item (JSON contracts)', async () => {
    const t3 = unique('tokcli');
    await createTable(clients.dynamodb, t3);
    const env = cliEnvFor(endpoint, unique('unused-bucket'), t3);
    const dir = tempDir('ca-token-aws-');
    const r = ca(dir, ['token-key', 'rotate', '--json'], env);
    expect(r.code, r.stderr).toBe(0);
    const doc = r.json();
    expect(doc.files).toEqual([expect.stringMatching(/^arn:aws:kms:/), `dynamodb://${t3}/TOKEN#JWKS`]);
    const list = ca(dir, ['token-key', 'list', '--json'], env).json();
    expect(list).toMatchObject({ jwks: `dynamodb://${t3}/TOKEN#JWKS`, keys: [{ kid: doc.kid, status: 'signing', key: doc.files[0] }] });
    const item = (await clients.dynamodb.send(new GetItemCommand({ TableName: t3, Key: { pk: { S: TOKEN_JWKS_KEY } }, ConsistentRead: true }))).Item!;
    expect(JSON.parse(item.jwks!.S!).keys.map((k: { kid: string }) => k.kid)).toEqual([doc.kid]);
    const again = ca(dir, ['token-key', 'rotate', '--json'], env);
    expect(again.code).toBe(0);
    expect(Date.parse(again.json().activateAt) - Date.now()).toBeGreaterThan(10 * 60_000);
    const refused = ca(dir, ['token-key', 'rotate'], env);
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/^error: token key .* starts signing at/m);
  });
});
