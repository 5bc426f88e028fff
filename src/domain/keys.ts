import { createHash, createPublicKey, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import type { CaSigner, KeyType } from '../ports.js';
import { invalidInput } from './errors.js';
import { children, readTlv } from './der.js';

export const KEY_TYPES: readonly KeyType[] = ['ec-p256', 'ec-p384', 'rsa-2048', 'rsa-3072', 'rsa-4096'];

/** Hash and X.509 signature algorithm OID for a CA key of this type (API Gateway wants SHA-256 or stronger). */
export function signatureAlgorithmOf(keyType: KeyType): { hash: 'sha256' | 'sha384'; oid: string; name: string } {
  switch (keyType) {
    case 'ec-p256':
      return { hash: 'sha256', oid: '1.2.840.10045.4.3.2', name: 'ecdsa-with-SHA256' };
    case 'ec-p384':
      return { hash: 'sha384', oid: '1.2.840.10045.4.3.3', name: 'ecdsa-with-SHA384' };
    default:
      // PKCS#1 v1.5: API Gateway's truststore rules do not list RSA-PSS.
      return { hash: 'sha256', oid: '1.2.840.113549.1.1.11', name: 'sha256WithRSAEncryption' };
  }
}

/** Parses a user-supplied key type, explaining why unsupported ones are refused. */
export function parseKeyType(value: string): KeyType {
  const v = value.trim().toLowerCase();
  if ((KEY_TYPES as readonly string[]).includes(v)) return v as KeyType;
  if (/^ed(25519|448)$/.test(v)) {
    throw invalidInput(`key type ${value} is not supported: API Gateway mutual TLS accepts only RSA (2048+) and ECDSA (P-256+) keys`, `use one of ${KEY_TYPES.join(', ')}`);
  }
  const rsa = /^rsa-?(\d+)$/.exec(v);
  if (rsa && Number(rsa[1]) < 2048) {
    throw invalidInput(`key type ${value} is too weak: API Gateway mutual TLS requires RSA keys of at least 2048 bits`, `use one of ${KEY_TYPES.join(', ')}`);
  }
  throw invalidInput(`unknown key type ${value}`, `use one of ${KEY_TYPES.join(', ')}`);
}

/** Generates a key pair of the given type (synchronous native crypto: the fast path for bulk issuance). */
export function generateKeyPair(keyType: KeyType): { privateKey: KeyObject; publicKey: KeyObject } {
  switch (keyType) {
    case 'ec-p256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'ec-p384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' });
    default:
      return generateKeyPairSync('rsa', { modulusLength: Number(keyType.slice(4)), publicExponent: 0x10001 });
  }
}

/**
 * Derives the key type from a public key and refuses what API Gateway would refuse:
 * Ed25519/Ed448, RSA below 2048 bits, curves other than P-256/P-384, RSA-PSS-only keys.
 */
export function keyTypeOf(publicKey: KeyObject): KeyType {
  const t = publicKey.asymmetricKeyType;
  const d = publicKey.asymmetricKeyDetails ?? {};
  if (t === 'ec') {
    if (d.namedCurve === 'prime256v1') return 'ec-p256';
    if (d.namedCurve === 'secp384r1') return 'ec-p384';
    throw invalidInput(`EC curve ${d.namedCurve ?? 'unknown'} is not supported`, 'use P-256 or P-384');
  }
  if (t === 'rsa') {
    const bits = d.modulusLength ?? 0;
    if (bits < 2048) throw invalidInput(`RSA key of ${bits} bits is too weak: API Gateway mutual TLS requires at least 2048 bits`, 'generate an RSA-2048 (or stronger) or P-256 key');
    if (bits <= 2048) return 'rsa-2048';
    if (bits <= 3072) return 'rsa-3072';
    return 'rsa-4096';
  }
  throw invalidInput(`${t ?? 'unknown'} keys are not supported: API Gateway mutual TLS accepts only RSA (2048+) and ECDSA (P-256+) keys`, 'generate a P-256 or RSA-2048 key');
}

/**
 * The key type of any public key, for showing it (`ca inspect FILE`): one of KEY_TYPES when it is one, in the
 * same names the registry uses; otherwise the key's own description (`ed25519`, `rsa-1024`, `ec-secp521r1`).
 */
export function keyTypeName(publicKey: KeyObject): string {
  const t = publicKey.asymmetricKeyType ?? 'unknown';
  const d = publicKey.asymmetricKeyDetails ?? {};
  if (t === 'ec') return d.namedCurve === 'prime256v1' ? 'ec-p256' : d.namedCurve === 'secp384r1' ? 'ec-p384' : `ec-${d.namedCurve ?? 'unknown'}`;
  if (t === 'rsa' || t === 'rsa-pss') return `${t}-${d.modulusLength ?? 0}`;
  return t;
}

export function spkiDer(publicKey: KeyObject): Buffer {
  return publicKey.export({ format: 'der', type: 'spki' });
}

export function publicKeyFromSpki(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}

/** The subjectPublicKey BIT STRING's content (without the unused-bits octet) of a DER SPKI. */
export function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const outer = readTlv(spki, 0);
  const bits = children(spki, outer)[1]!;
  return spki.subarray(bits.valueStart + 1, bits.end);
}

/**
 * The key identifier of a DER SPKI, used for SKI and AKI alike: RFC 7093 section 2 method 1, the leftmost 160
 * bits of SHA-256 over the subjectPublicKey BIT STRING value.
 */
export function keyIdentifier(spki: Uint8Array): Buffer {
  return createHash('sha256').update(subjectPublicKeyBits(spki)).digest().subarray(0, 20);
}

export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A signer over a key held in this process's memory (the file and SSM custodies): its public key is derived
 * from the private key, and it lends the key to worker threads for batch signing (see CaSigner).
 */
export function keyObjectSigner(privateKey: KeyObject, keyType: KeyType): CaSigner {
  const { hash } = signatureAlgorithmOf(keyType);
  return {
    keyType,
    publicKeySpki: spkiDer(createPublicKey(privateKey)),
    // node:crypto signs ECDSA as DER Ecdsa-Sig-Value and RSA as PKCS#1 v1.5 by default: what X.509 wants.
    sign: async (data) => sign(hash, data, privateKey),
    keyForWorkerThreads: () => privateKey,
  };
}
