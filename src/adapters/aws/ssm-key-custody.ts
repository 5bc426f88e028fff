import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { DeleteParameterCommand, GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { CaSigner, KeyCustody, KeyType } from '../../ports.js';
import { conflict, invalidInput, notFound, storageError } from '../../domain/errors.js';
import { generateKeyPair, keyObjectSigner, sha256Hex, spkiDer } from '../../domain/keys.js';
import { awsError } from './aws-errors.js';

export interface SsmKeyCustodyOptions {
  client: SSMClient;
  /** validated parameter path prefix, without trailing slash */
  prefix: string;
  /** KMS key that encrypts the SecureString (default: the account's `aws/ssm` key) */
  kmsKeyId?: string;
}

/**
 * CA private keys as SecureString parameters `<prefix>/ca/<label>-<random>` (PKCS#8 PEM). A key is
 * generated in memory, written once (never overwritten) and decrypted into memory to sign; it never
 * touches the local disk.
 */
export class SsmKeyCustody implements KeyCustody {
  readonly kind = 'ssm';
  private readonly opened = new Map<string, CaSigner>();

  constructor(private readonly o: SsmKeyCustodyOptions) {}

  private fail(e: unknown, verb: string, name: string) {
    return awsError(e, verb, `SSM parameter ${name}`, (code) => {
      if (code === 'ParameterNotFound') return notFound(`CA key ${name} is missing from SSM Parameter Store`, 'restore it from backup; without it this CA cannot sign');
      if (code === 'ParameterAlreadyExists') return conflict(`SSM parameter ${name} already exists`, 're-run: a fresh name is chosen each time');
      if (code === 'KMSAccessDeniedException' || code === 'KMSDisabledException' || code === 'KMSNotFoundException' || code === 'KMSInvalidStateException') {
        return storageError(`SSM cannot use KMS key ${this.o.kmsKeyId ?? 'aws/ssm'} for parameter ${name} (${code})`, 'check that the key is enabled and that the role may use it through SSM (kms:Encrypt, kms:Decrypt)');
      }
      return undefined;
    });
  }

  async create(label: string, keyType: KeyType): Promise<{ keyRef: string; signer: CaSigner }> {
    const { privateKey } = generateKeyPair(keyType);
    return this.store(`${this.o.prefix}/ca/${label}-${randomBytes(6).toString('hex')}`, label, keyType, privateKey);
  }

  /**
   * An existing CA key (`ca import`), under `<prefix>/ca/<label>-imported-<first 12 hex of its SPKI's SHA-256>`:
   * the same key always gets the same name, so a re-run finds the parameter it wrote (never overwritten).
   */
  async adopt(label: string, keyType: KeyType, privateKey: KeyObject): Promise<{ keyRef: string; signer: CaSigner }> {
    const id = sha256Hex(spkiDer(createPublicKey(privateKey))).slice(0, 12);
    return this.store(`${this.o.prefix}/ca/${label}-imported-${id}`, label, keyType, privateKey, true);
  }

  private async store(name: string, label: string, keyType: KeyType, privateKey: KeyObject, adopted = false): Promise<{ keyRef: string; signer: CaSigner }> {
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    try {
      await this.o.client.send(
        new PutParameterCommand({
          Name: name,
          Value: pem,
          Type: 'SecureString',
          ...(this.o.kmsKeyId ? { KeyId: this.o.kmsKeyId } : {}),
          Description: `ca: ${label} CA private key (PKCS#8 PEM)`,
          // An RSA-4096 PKCS#8 PEM is about 3.3 KB: within the standard tier's 4 KB.
          Tier: 'Standard',
          Overwrite: false,
        }),
      );
    } catch (e) {
      // The name is fresh (or, for an adopted key, derived from the key), so an existing parameter holding our
      // very key is our own put, retried after its answer was lost or a re-run: that is success.
      const exists = (e as { name?: string }).name === 'ParameterAlreadyExists';
      if (exists && (await this.holds(name, pem))) {
        // ours, from a lost answer or an earlier run
      } else if (exists && adopted) {
        throw conflict(`SSM parameter ${name} already exists and does not hold the ${label} CA key being imported`, 'it was changed by hand: put back the key `ca import` stored there, or delete the parameter and run the import again');
      } else throw this.fail(e, 'store CA key in', name);
    }
    const signer = keyObjectSigner(privateKey, keyType);
    this.opened.set(name, signer);
    return { keyRef: name, signer };
  }

  /** Whether parameter `name` holds exactly `value` (false when it cannot be read). */
  private async holds(name: string, value: string): Promise<boolean> {
    try {
      const r = await this.o.client.send(new GetParameterCommand({ Name: name, WithDecryption: true }));
      return r.Parameter?.Value === value;
    } catch {
      return false;
    }
  }

  describeKey(keyRef: string): string {
    return `SSM parameter ${keyRef}`;
  }

  async discard(keyRef: string): Promise<void> {
    this.opened.delete(keyRef);
    try {
      await this.o.client.send(new DeleteParameterCommand({ Name: keyRef }));
    } catch (e) {
      if ((e as { name?: string }).name === 'ParameterNotFound') return;
      throw this.fail(e, 'delete the unused CA key', keyRef);
    }
  }

  async open(keyRef: string, keyType: KeyType): Promise<CaSigner> {
    const cached = this.opened.get(keyRef);
    if (cached) return cached;
    let pem: string | undefined;
    try {
      const r = await this.o.client.send(new GetParameterCommand({ Name: keyRef, WithDecryption: true }));
      pem = r.Parameter?.Value;
    } catch (e) {
      throw this.fail(e, 'read CA key from', keyRef);
    }
    let key: KeyObject;
    try {
      key = createPrivateKey({ key: pem ?? '', format: 'pem' });
    } catch (e) {
      throw invalidInput(`SSM parameter ${keyRef} does not hold a PEM private key`, 'restore the CA key from backup', e);
    }
    const signer = keyObjectSigner(key, keyType);
    this.opened.set(keyRef, signer);
    return signer;
  }
}
