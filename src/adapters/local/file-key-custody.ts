import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { CaSigner, KeyCustody, KeyType } from '../../ports.js';
import { invalidInput, notFound, storageError } from '../../domain/errors.js';
import { generateKeyPair, keyObjectSigner, sha256Hex, spkiDer } from '../../domain/keys.js';
import { fsyncDir, writeFileAtomic } from './files.js';

/** Supplies the passphrase for CA keys; `confirm` asks twice when a new key is about to be encrypted. */
export type PassphraseSource = (o: { confirm: boolean }) => Promise<string>;

export const MIN_PASSPHRASE = 8;

/**
 * The store's passphrase, asked once per run and checked for its length; forgotten after a wrong one, so the
 * next key opened asks again. Shared by the CA keys and the token keys (both encrypted with it).
 */
export class CachedPassphrase {
  private value?: string;
  constructor(private readonly source: PassphraseSource) {}
  /** @throws CaError invalid input when it is shorter than MIN_PASSPHRASE */
  async get(confirm: boolean): Promise<string> {
    if (this.value === undefined) {
      const p = await this.source({ confirm });
      if (p.length < MIN_PASSPHRASE) throw invalidInput(`the CA passphrase must be at least ${MIN_PASSPHRASE} characters`);
      this.value = p;
    }
    return this.value;
  }
  forget(): void {
    this.value = undefined;
  }
}

/** Removes a key file no record uses any more, durably. @throws CaError storage naming `what`, with `hint` */
export function removeKeyFile(path: string, what: string, hint: string): void {
  try {
    if (!existsSync(path)) return;
    rmSync(path, { force: true });
    fsyncDir(dirname(path));
  } catch (e) {
    throw storageError(`failed to remove ${what}: ${(e as Error).message}`, hint, e);
  }
}

/** kept here too: callers imported it from this module before it moved to the domain */
export { keyObjectSigner };

/**
 * CA keys as PKCS#8 files in `<dir>/keys`, encrypted with a passphrase (PBES2, AES-256-CBC), mode 0600.
 * Plaintext only when the caller explicitly allowed it.
 */
export class FileKeyCustody implements KeyCustody {
  readonly kind = 'local-file';
  private pass?: CachedPassphrase;
  private readonly opened = new Map<string, CaSigner>();

  constructor(
    private readonly dir: string,
    private readonly passphrase: PassphraseSource,
    private readonly opts: { plaintext?: boolean } = {},
  ) {}

  private getPassphrase(confirm: boolean): Promise<string> {
    return (this.pass ??= new CachedPassphrase(this.passphrase)).get(confirm);
  }

  private pathOf(keyRef: string): string {
    const p = resolve(this.dir, keyRef);
    const rel = relative(resolve(this.dir), p);
    if (rel.startsWith('..') || rel.includes(`..${sep}`) || !rel.startsWith(`keys${sep}`)) throw invalidInput(`invalid key reference ${keyRef}`);
    return p;
  }

  async create(label: string, keyType: KeyType): Promise<{ keyRef: string; signer: CaSigner }> {
    const { privateKey } = generateKeyPair(keyType);
    return this.write(join('keys', `${label}-${randomBytes(6).toString('hex')}.key.pem`), keyType, privateKey);
  }

  /**
   * An existing CA key (`ca import`), as `keys/<label>-imported-<first 12 hex of its SPKI's SHA-256>.key.pem`:
   * the name is the key's, so writing it again (a re-run) writes the same key.
   */
  async adopt(label: string, keyType: KeyType, privateKey: KeyObject): Promise<{ keyRef: string; signer: CaSigner }> {
    const id = sha256Hex(spkiDer(createPublicKey(privateKey))).slice(0, 12);
    return this.write(join('keys', `${label}-imported-${id}.key.pem`), keyType, privateKey);
  }

  private async write(keyRef: string, keyType: KeyType, privateKey: KeyObject): Promise<{ keyRef: string; signer: CaSigner }> {
    const pem = this.opts.plaintext
      ? privateKey.export({ type: 'pkcs8', format: 'pem' })
      : privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: await this.getPassphrase(true) });
    try {
      writeFileAtomic(this.pathOf(keyRef), pem, 0o600);
    } catch (e) {
      throw storageError(`failed to write CA key ${keyRef}: ${(e as Error).message}`, undefined, e);
    }
    const signer = keyObjectSigner(privateKey, keyType);
    this.opened.set(keyRef, signer);
    return { keyRef, signer };
  }

  describeKey(keyRef: string): string {
    const p = this.pathOf(keyRef);
    // relative to the working directory when under it (`pki/keys/…`), as the user typed the store's path
    const rel = relative(process.cwd(), p);
    return rel && !rel.startsWith('..') && !isAbsolute(rel) ? rel : p;
  }

  async discard(keyRef: string): Promise<void> {
    const path = this.pathOf(keyRef);
    this.opened.delete(keyRef);
    removeKeyFile(path, `the unused CA key ${this.describeKey(keyRef)}`, 'delete the file by hand: no certificate uses it');
  }

  async open(keyRef: string, keyType: KeyType): Promise<CaSigner> {
    const cached = this.opened.get(keyRef);
    if (cached) return cached;
    const path = this.pathOf(keyRef);
    if (!existsSync(path)) throw notFound(`CA key ${this.describeKey(keyRef)} is missing`, 'restore it from backup; without it this CA cannot sign');
    const pem = readFileSync(path, 'utf8');
    let key: KeyObject;
    if (pem.includes('ENCRYPTED PRIVATE KEY')) {
      const passphrase = await this.getPassphrase(false);
      try {
        key = createPrivateKey({ key: pem, format: 'pem', passphrase });
      } catch (e) {
        this.pass?.forget();
        throw invalidInput(`failed to decrypt CA key ${keyRef}: wrong passphrase`, 'set CA_PASSPHRASE to the passphrase given at bootstrap', e);
      }
    } else {
      try {
        key = createPrivateKey({ key: pem, format: 'pem' });
      } catch (e) {
        throw invalidInput(`CA key ${this.describeKey(keyRef)} does not hold a PEM private key`, 'restore the CA key from backup', e);
      }
    }
    const signer = keyObjectSigner(key, keyType);
    this.opened.set(keyRef, signer);
    return signer;
  }
}
