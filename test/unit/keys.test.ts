import { describe, expect, it } from 'vitest';
import { generateKeyPairSync } from 'node:crypto';
import { keyTypeName } from '../../src/domain/keys.js';

describe('keyTypeName (the key type ca inspect FILE shows)', () => {
  it('names the supported keys as the registry does: ec-p256, not OpenSSL\'s ec-prime256v1', () => {
    expect(keyTypeName(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey)).toBe('ec-p256');
    expect(keyTypeName(generateKeyPairSync('ec', { namedCurve: 'P-384' }).publicKey)).toBe('ec-p384');
    expect(keyTypeName(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey)).toBe('rsa-2048');
  });

  it('names any other key by its own kind, never as a supported one', () => {
    expect(keyTypeName(generateKeyPairSync('ed25519').publicKey)).toBe('ed25519');
    expect(keyTypeName(generateKeyPairSync('ec', { namedCurve: 'P-521' }).publicKey)).toBe('ec-secp521r1');
    expect(keyTypeName(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey)).toBe('rsa-1024');
  });
});
