import { describe, it, expect } from 'vitest';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { GetParameterCommand, PutParameterCommand } from '@aws-sdk/client-ssm';
import { SsmKeyCustody } from '../../src/adapters/aws/ssm-key-custody.js';
import { unique, useMoto } from './moto-env.js';

/** SsmKeyCustody.adopt (`ca import`) on moto: an existing CA key under a name derived from the key itself. */
const { clients } = useMoto();

describe('SsmKeyCustody.adopt', () => {
  it('stores an existing key once under a name derived from it, so a re-run finds it, and signs with it', async () => {
    const custody = new SsmKeyCustody({ client: clients.ssm, prefix: `/${unique('adopt')}` });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const a = await custody.adopt('root', 'rsa-2048', privateKey);
    const b = await new SsmKeyCustody({ client: clients.ssm, prefix: a.keyRef.split('/ca/')[0]! }).adopt('root', 'rsa-2048', privateKey);
    expect(b.keyRef).toBe(a.keyRef);
    expect(a.keyRef).toMatch(/\/ca\/root-imported-[0-9a-f]{12}$/);
    const stored = await clients.ssm.send(new GetParameterCommand({ Name: a.keyRef, WithDecryption: true }));
    expect(stored.Parameter).toMatchObject({ Type: 'SecureString', Version: 1 });
    const opened = await new SsmKeyCustody({ client: clients.ssm, prefix: '/x' }).open(a.keyRef, 'rsa-2048');
    const data = Buffer.from('tbs');
    expect(verify('sha256', data, publicKey, Buffer.from(await opened.sign(data)))).toBe(true);
    expect(createPublicKey(stored.Parameter!.Value!).export({ type: 'spki', format: 'der' }).equals(publicKey.export({ type: 'spki', format: 'der' }))).toBe(true);
  });

  it('refuses, without overwriting, a parameter of that name that holds something else', async () => {
    const prefix = `/${unique('adopt')}`;
    const custody = new SsmKeyCustody({ client: clients.ssm, prefix });
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const first = await custody.adopt('intermediate', 'rsa-2048', privateKey);
    await clients.ssm.send(new PutParameterCommand({ Name: first.keyRef, Value: 'replaced by hand', Type: 'SecureString', Overwrite: true }));
    await expect(new SsmKeyCustody({ client: clients.ssm, prefix }).adopt('intermediate', 'rsa-2048', privateKey)).rejects.toMatchObject({ code: 'conflict', message: expect.stringMatching(/does not hold the intermediate CA key being imported/) });
    expect((await clients.ssm.send(new GetParameterCommand({ Name: first.keyRef, WithDecryption: true }))).Parameter?.Value).toBe('replaced by hand');
  });
});
