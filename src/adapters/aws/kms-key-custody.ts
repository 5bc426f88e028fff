import { createHash } from 'node:crypto';
import { CreateKeyCommand, DescribeKeyCommand, GetPublicKeyCommand, ScheduleKeyDeletionCommand, SignCommand, type KeySpec, type KMSClient, type SigningAlgorithmSpec } from '@aws-sdk/client-kms';
import type { CaSigner, KeyCustody, KeyType } from '../../ports.js';
import { invalidInput, notFound, storageError } from '../../domain/errors.js';
import { signatureAlgorithmOf } from '../../domain/keys.js';
import { awsError } from './aws-errors.js';

const KEY_SPECS: Record<KeyType, KeySpec> = {
  'ec-p256': 'ECC_NIST_P256',
  'ec-p384': 'ECC_NIST_P384',
  'rsa-2048': 'RSA_2048',
  'rsa-3072': 'RSA_3072',
  'rsa-4096': 'RSA_4096',
};

/** The KMS signing algorithm that yields the X.509 signature `signatureAlgorithmOf(keyType)` names. */
export function kmsSigningAlgorithm(keyType: KeyType): SigningAlgorithmSpec {
  const { hash } = signatureAlgorithmOf(keyType);
  if (keyType.startsWith('ec-')) return hash === 'sha384' ? 'ECDSA_SHA_384' : 'ECDSA_SHA_256';
  return 'RSASSA_PKCS1_V1_5_SHA_256';
}

export function kmsKeySpec(keyType: KeyType): KeySpec {
  return KEY_SPECS[keyType];
}

/** KMS Sign accepts a RAW message of at most 4096 bytes; a longer one is sent as its digest. */
const MAX_RAW_MESSAGE = 4096;

export interface KmsKeyCustodyOptions {
  client: KMSClient;
  /** names the CA in key descriptions and tags, e.g. the registry table */
  caName: string;
}

/**
 * CA keys as non-exportable asymmetric KMS keys (SIGN_VERIFY). The key reference is the key ARN; every
 * signature is a KMS Sign call. The public key comes from GetPublicKey (DER SubjectPublicKeyInfo).
 */
export class KmsKeyCustody implements KeyCustody {
  readonly kind = 'kms';
  private readonly opened = new Map<string, CaSigner>();

  constructor(private readonly o: KmsKeyCustodyOptions) {}

  private fail(e: unknown, verb: string, keyRef: string) {
    return awsError(e, verb, `KMS key ${keyRef}`, (code) => {
      switch (code) {
        case 'NotFoundException':
          return notFound(`KMS key ${keyRef} not found`, 'check the region and the key reference; a deleted key cannot sign again');
        case 'DisabledException':
          return storageError(`KMS key ${keyRef} is disabled`, `enable it: aws kms enable-key --key-id ${keyRef}`);
        case 'KMSInvalidStateException':
          return storageError(`KMS key ${keyRef} cannot be used now (pending deletion or unavailable)`, `if deletion is pending: aws kms cancel-key-deletion --key-id ${keyRef}, then enable it`);
        case 'AccessDeniedException':
          return storageError(`access denied: cannot ${verb} KMS key ${keyRef}`, 'grant kms:Sign, kms:GetPublicKey, kms:DescribeKey and kms:ScheduleKeyDeletion on the key to the role running ca (see templates/iam/ca-cli-policy.json)');
        default:
          return undefined;
      }
    });
  }

  async create(label: string, keyType: KeyType): Promise<{ keyRef: string; signer: CaSigner }> {
    let keyRef: string | undefined;
    try {
      const r = await this.o.client.send(
        new CreateKeyCommand({
          KeySpec: KEY_SPECS[keyType],
          KeyUsage: 'SIGN_VERIFY',
          Description: `ca: ${label} CA signing key of ${this.o.caName}`,
          Tags: [
            { TagKey: 'ca:name', TagValue: this.o.caName },
            { TagKey: 'ca:label', TagValue: label },
          ],
        }),
      );
      keyRef = r.KeyMetadata?.Arn;
    } catch (e) {
      throw this.fail(e, 'create', `for the ${label} CA`);
    }
    if (!keyRef) throw storageError(`KMS returned no ARN for the new ${label} CA key`);
    return { keyRef, signer: await this.open(keyRef, keyType) };
  }

  describeKey(keyRef: string): string {
    return `KMS key ${keyRef}`;
  }

  async discard(keyRef: string): Promise<void> {
    this.opened.delete(keyRef);
    try {
      // a retry finds the deletion already scheduled (ScheduleKeyDeletion itself would fail on such a key)
      const d = await this.o.client.send(new DescribeKeyCommand({ KeyId: keyRef }));
      if (d.KeyMetadata?.KeyState === 'PendingDeletion') return;
      // KMS deletes a key only after a waiting period; 7 days is the shortest (the key cannot sign meanwhile).
      // The key id, not the ARN: KMS takes either, moto 5.2.5 finds a key to delete only by its id.
      await this.o.client.send(new ScheduleKeyDeletionCommand({ KeyId: d.KeyMetadata?.KeyId ?? keyRef, PendingWindowInDays: 7 }));
    } catch (e) {
      // already gone, or already pending deletion (a retry): nothing left to do
      if ((e as { name?: string }).name === 'NotFoundException' || (e as { name?: string }).name === 'KMSInvalidStateException') return;
      throw this.fail(e, 'schedule the deletion of the unused CA key', keyRef);
    }
  }

  async open(keyRef: string, keyType: KeyType): Promise<CaSigner> {
    const cached = this.opened.get(keyRef);
    if (cached) return cached;
    let spki: Uint8Array | undefined;
    let spec: string | undefined;
    try {
      const r = await this.o.client.send(new GetPublicKeyCommand({ KeyId: keyRef }));
      spki = r.PublicKey;
      spec = r.KeySpec;
      if (r.KeyUsage && r.KeyUsage !== 'SIGN_VERIFY') throw invalidInput(`KMS key ${keyRef} is not a signing key (usage ${r.KeyUsage})`);
    } catch (e) {
      throw this.fail(e, 'read the public key of', keyRef);
    }
    if (!spki) throw storageError(`KMS returned no public key for ${keyRef}`);
    if (spec && spec !== KEY_SPECS[keyType]) throw invalidInput(`KMS key ${keyRef} is ${spec}, the registry says ${keyType}`, 'the key reference points at another key: restore the registry record');
    const algorithm = kmsSigningAlgorithm(keyType);
    const { hash } = signatureAlgorithmOf(keyType);
    const signer: CaSigner = {
      keyType,
      publicKeySpki: spki,
      sign: async (data) => {
        const raw = data.length <= MAX_RAW_MESSAGE;
        try {
          const r = await this.o.client.send(
            new SignCommand({
              KeyId: keyRef,
              Message: raw ? data : createHash(hash).update(data).digest(),
              MessageType: raw ? 'RAW' : 'DIGEST',
              SigningAlgorithm: algorithm,
            }),
          );
          if (!r.Signature) throw storageError(`KMS returned no signature from ${keyRef}`);
          return r.Signature;
        } catch (e) {
          throw this.fail(e, 'sign with', keyRef);
        }
      },
    };
    this.opened.set(keyRef, signer);
    return signer;
  }
}
