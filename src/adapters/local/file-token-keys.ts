import { createPrivateKey, createPublicKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { SignJWT } from 'jose';
import type { PublicJwk, TokenKeyCustody, TokenKeyEntry, TokenKeySet, TokenSigner } from '../../ports.js';
import { invalidInput, notFound, storageError } from '../../domain/errors.js';
import { publicJwkFromSpki } from '../../domain/token-keys.js';
import { CachedPassphrase, removeKeyFile, type PassphraseSource } from './file-key-custody.js';
import { fsyncDir, writeFileAtomic } from './files.js';

/**
 * Token signing keys as PKCS#8 files in `<store>/token/keys/`, encrypted with the CA passphrase (PBES2,
 * AES-256-CBC) as the CA keys are, mode 0600; plaintext only when the store was told to (`--no-passphrase --insecure`).
 * Tokens are signed with jose's SignJWT on the key object: the key is never exported.
 */
export class FileTokenKeyCustody implements TokenKeyCustody {
  readonly kind = 'local-file';
  private pass?: CachedPassphrase;
  private readonly opened = new Map<string, TokenSigner>();

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
    if (rel.startsWith('..') || !rel.startsWith(`token${sep}keys${sep}`)) throw invalidInput(`invalid token key reference ${keyRef}`);
    return p;
  }

  describeKey(keyRef: string): string {
    return this.pathOf(keyRef);
  }

  async create(): Promise<{ keyRef: string; jwk: PublicJwk }> {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicJwkFromSpki(publicKey.export({ format: 'der', type: 'spki' }));
    const keyRef = join('token', 'keys', `${randomBytes(6).toString('hex')}.key.pem`);
    // asked twice on a terminal only when no CA key was ever encrypted with it in this run
    const pem = this.opts.plaintext
      ? privateKey.export({ type: 'pkcs8', format: 'pem' })
      : privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: await this.getPassphrase(false) });
    try {
      writeFileAtomic(this.pathOf(keyRef), pem, 0o600);
    } catch (e) {
      throw storageError(`failed to write token key ${keyRef}: ${(e as Error).message}`, undefined, e);
    }
    this.opened.set(keyRef, localSigner(jwk.kid, privateKey));
    return { keyRef, jwk };
  }

  async signer(entry: Pick<TokenKeyEntry, 'kid' | 'keyRef'>): Promise<TokenSigner> {
    const cached = this.opened.get(entry.keyRef);
    if (cached) return cached;
    const path = this.pathOf(entry.keyRef);
    if (!existsSync(path)) throw notFound(`token key ${path} is missing`, 'run `ca token-key rotate` to publish a new key (tokens it signed no longer verify)');
    const pem = readFileSync(path, 'utf8');
    let key: KeyObject;
    try {
      key = pem.includes('ENCRYPTED PRIVATE KEY') ? createPrivateKey({ key: pem, format: 'pem', passphrase: await this.getPassphrase(false) }) : createPrivateKey(pem);
    } catch (e) {
      this.pass?.forget();
      throw invalidInput(`failed to decrypt token key ${path}: wrong passphrase`, 'set CA_PASSPHRASE to the passphrase given at bootstrap', e);
    }
    const jwk = publicJwkFromSpki(createPublicKey(key).export({ format: 'der', type: 'spki' }));
    if (jwk.kid !== entry.kid) throw invalidInput(`token key ${path} is not key ${entry.kid} of the key set`, 'restore the file from backup, or run `ca token-key rotate`');
    const s = localSigner(entry.kid, key);
    this.opened.set(entry.keyRef, s);
    return s;
  }

  async sweep(recorded: readonly string[]): Promise<string[]> {
    const dir = join(resolve(this.dir), 'token', 'keys');
    if (!existsSync(dir)) return [];
    const keep = new Set(recorded.map((r) => this.pathOf(r)));
    const removed: string[] = [];
    for (const name of readdirSync(dir)) {
      if (!name.endsWith('.key.pem')) continue;
      const ref = join('token', 'keys', name);
      if (keep.has(this.pathOf(ref))) continue;
      await this.discard(ref);
      removed.push(ref);
    }
    return removed;
  }

  async discard(keyRef: string): Promise<void> {
    const path = this.pathOf(keyRef);
    this.opened.delete(keyRef);
    removeKeyFile(path, `the retired token key ${path}`, 'delete the file by hand: the key set no longer lists it');
  }
}

/** jose's SignJWT with a key object held in this process. */
export function localSigner(kid: string, key: KeyObject): TokenSigner {
  return {
    kid,
    signJwt: (header, payload) => new SignJWT(payload).setProtectedHeader({ ...header, alg: 'ES256', kid }).sign(key),
  };
}

interface KeysFile {
  version: 1;
  updatedAt: string;
  keys: TokenKeyEntry[];
  /** set while a rotation or prune changes the key files (TokenKeySet.pendingSince) */
  pendingSince?: string;
}

/**
 * The key set in `<store>/token/keys.json` (entries with their rotation times) and `<store>/token/jwks.json` (the
 * published JWKS, what `ca gateway` serves and a deployment may copy). The JWKS is written first: a crash between
 * leaves a published key the entries do not know yet (harmless), never an entry whose key is not published.
 */
export class FileTokenKeySet implements TokenKeySet {
  readonly keysPath: string;
  readonly jwksPath: string;

  constructor(dir: string) {
    this.keysPath = join(resolve(dir), 'token', 'keys.json');
    this.jwksPath = join(resolve(dir), 'token', 'jwks.json');
  }

  describe(): string {
    return this.jwksPath;
  }

  private read(): KeysFile | undefined {
    if (!existsSync(this.keysPath)) return undefined;
    try {
      const doc = JSON.parse(readFileSync(this.keysPath, 'utf8')) as KeysFile;
      if (!Array.isArray(doc.keys)) throw new Error('no keys array');
      return doc;
    } catch (e) {
      throw storageError(`failed to read the token key set ${this.keysPath}: ${(e as Error).message}`, 'restore it from backup', e);
    }
  }

  private write(doc: KeysFile): void {
    try {
      writeFileAtomic(this.keysPath, JSON.stringify(doc, null, 2) + '\n', 0o600);
    } catch (e) {
      throw storageError(`failed to write the token key set ${this.keysPath}: ${(e as Error).message}`, undefined, e);
    }
  }

  async load(): Promise<TokenKeyEntry[]> {
    return this.read()?.keys ?? [];
  }

  async pendingSince(): Promise<string | undefined> {
    return this.read()?.pendingSince;
  }

  async markPending(at: string): Promise<void> {
    const doc = this.read() ?? { version: 1, updatedAt: at, keys: [] };
    this.write({ ...doc, pendingSince: at });
  }

  async clearPending(): Promise<void> {
    const doc = this.read();
    if (doc?.pendingSince === undefined) return;
    const { pendingSince: _done, ...rest } = doc;
    this.write(rest);
  }

  async save(entries: TokenKeyEntry[], jwks: { keys: PublicJwk[] }, updatedAt: string): Promise<void> {
    const pendingSince = this.read()?.pendingSince;
    try {
      writeFileAtomic(this.jwksPath, JSON.stringify(jwks, null, 2) + '\n', 0o644);
    } catch (e) {
      throw storageError(`failed to write the token key set ${this.jwksPath}: ${(e as Error).message}`, undefined, e);
    }
    this.write({ version: 1, updatedAt, keys: entries, ...(pendingSince !== undefined ? { pendingSince } : {}) });
  }
}
