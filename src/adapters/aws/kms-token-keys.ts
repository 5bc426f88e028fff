import { CreateKeyCommand, DescribeKeyCommand, GetPublicKeyCommand, ListKeysCommand, ListResourceTagsCommand, ScheduleKeyDeletionCommand, SignCommand, type KMSClient } from '@aws-sdk/client-kms';
import { GetItemCommand, UpdateItemCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { PublicJwk, TokenKeyCustody, TokenKeyEntry, TokenKeySet, TokenSigner } from '../../ports.js';
import { invalidInput, notFound, storageError } from '../../domain/errors.js';
import { derToJose } from '../../domain/jose-signature.js';
import { publicJwkFromSpki } from '../../domain/token-keys.js';
import { TOKEN_JWKS_KEY } from '../../domain/token-claims.js';
import { awsError } from './aws-errors.js';

const b64url = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

/**
 * The compact JWS of `payload`, signed by `sign` (which returns a DER ECDSA signature over the signing input, as KMS
 * does): RFC 7515 §5.1, base64url(header) . base64url(payload), then the signature converted to R‖S (RFC 7518 §3.4).
 */
export async function compactJws(header: Record<string, unknown>, payload: Record<string, unknown>, signDer: (input: Uint8Array) => Promise<Uint8Array>): Promise<string> {
  const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(payload))}`;
  const der = await signDer(Buffer.from(input, 'ascii'));
  return `${input}.${b64url(derToJose(der, 32))}`;
}

/**
 * Token signing keys as non-exportable KMS keys (ECC_NIST_P256, SIGN_VERIFY): every token is one KMS Sign
 * (ECDSA_SHA_256 over the RAW signing input, at most 4096 bytes, which a token's header and claims stay well within).
 */
export class KmsTokenKeyCustody implements TokenKeyCustody {
  readonly kind = 'kms';
  private readonly opened = new Map<string, TokenSigner>();

  constructor(private readonly o: { client: KMSClient; caName: string }) {}

  private fail(e: unknown, verb: string, keyRef: string) {
    return awsError(e, verb, `KMS key ${keyRef}`, (code) =>
      code === 'NotFoundException'
        ? notFound(`KMS token key ${keyRef} not found`, 'run `ca token-key rotate` to publish a new key')
        : code === 'DisabledException' || code === 'KMSInvalidStateException'
          ? storageError(`KMS token key ${keyRef} cannot sign now (disabled or pending deletion)`, `aws kms cancel-key-deletion / enable-key --key-id ${keyRef}, or run \`ca token-key rotate\``)
          : undefined,
    );
  }

  describeKey(keyRef: string): string {
    return keyRef;
  }

  async create(): Promise<{ keyRef: string; jwk: PublicJwk }> {
    let keyRef: string | undefined;
    try {
      const r = await this.o.client.send(
        new CreateKeyCommand({
          KeySpec: 'ECC_NIST_P256',
          KeyUsage: 'SIGN_VERIFY',
          Description: `ca: access token signing key of ${this.o.caName}`,
          Tags: [
            { TagKey: 'ca:name', TagValue: this.o.caName },
            { TagKey: 'ca:label', TagValue: 'token' },
          ],
        }),
      );
      keyRef = r.KeyMetadata?.Arn;
    } catch (e) {
      throw this.fail(e, 'create', 'for access tokens');
    }
    if (!keyRef) throw storageError('KMS returned no ARN for the new token key');
    return { keyRef, jwk: await this.publicJwk(keyRef) };
  }

  private async publicJwk(keyRef: string): Promise<PublicJwk> {
    let r;
    try {
      r = await this.o.client.send(new GetPublicKeyCommand({ KeyId: keyRef }));
    } catch (e) {
      throw this.fail(e, 'read the public key of', keyRef);
    }
    if (!r.PublicKey) throw storageError(`KMS returned no public key for ${keyRef}`);
    // moto leaves KeySpec out of GetPublicKey; the public key itself says the curve (publicJwkFromSpki refuses others)
    const spec = r.KeySpec ?? r.CustomerMasterKeySpec;
    if ((spec && spec !== 'ECC_NIST_P256') || (r.KeyUsage && r.KeyUsage !== 'SIGN_VERIFY')) throw invalidInput(`KMS key ${keyRef} is ${spec} ${r.KeyUsage}, not an ECC_NIST_P256 signing key`);
    try {
      return publicJwkFromSpki(r.PublicKey);
    } catch (e) {
      throw invalidInput(`KMS key ${keyRef} is not an ECC_NIST_P256 key: ${(e as Error).message}`, undefined, e);
    }
  }

  async signer(entry: Pick<TokenKeyEntry, 'kid' | 'keyRef'>): Promise<TokenSigner> {
    const cached = this.opened.get(entry.keyRef);
    if (cached) return cached;
    const { keyRef, kid } = entry;
    const s: TokenSigner = {
      kid,
      signJwt: (header, payload) =>
        compactJws({ ...header, alg: 'ES256', kid }, payload, async (input) => {
          try {
            const r = await this.o.client.send(new SignCommand({ KeyId: keyRef, Message: input, MessageType: 'RAW', SigningAlgorithm: 'ECDSA_SHA_256' }));
            if (!r.Signature) throw storageError(`KMS returned no signature from ${keyRef}`);
            return r.Signature;
          } catch (e) {
            throw this.fail(e, 'sign with', keyRef);
          }
        }),
    };
    this.opened.set(keyRef, s);
    return s;
  }

  async discard(keyRef: string): Promise<void> {
    await this.scheduleDeletion(keyRef);
  }

  /** Schedules the key's deletion; false when it was already pending deletion or gone. */
  private async scheduleDeletion(keyRef: string): Promise<boolean> {
    this.opened.delete(keyRef);
    try {
      const d = await this.o.client.send(new DescribeKeyCommand({ KeyId: keyRef }));
      if (d.KeyMetadata?.KeyState === 'PendingDeletion') return false;
      // 7 days, the shortest waiting period; the key id, since moto 5.2.5 finds a key to delete only by it
      await this.o.client.send(new ScheduleKeyDeletionCommand({ KeyId: d.KeyMetadata?.KeyId ?? keyRef, PendingWindowInDays: 7 }));
      return true;
    } catch (e) {
      const n = (e as { name?: string }).name;
      if (n === 'NotFoundException' || n === 'KMSInvalidStateException') return false;
      throw this.fail(e, 'schedule the deletion of the retired token key', keyRef);
    }
  }

  /**
   * The token keys of this CA (tags `ca:name`, `ca:label = token`) that no entry records, scheduled for deletion:
   * ListKeys over the account and region, then each key's tags. A key whose tags this principal may not read
   * (the operator policy allows ListResourceTags only on keys tagged with this CA's name) is not one of ours.
   */
  async sweep(recorded: readonly string[]): Promise<string[]> {
    const idOf = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);
    const keep = new Set(recorded.map(idOf));
    const swept: string[] = [];
    let marker: string | undefined;
    do {
      let page;
      try {
        page = await this.o.client.send(new ListKeysCommand({ Limit: 1000, ...(marker ? { Marker: marker } : {}) }));
      } catch (e) {
        throw this.fail(e, 'list', 'keys (to find a token key an interrupted rotation left)');
      }
      for (const k of page.Keys ?? []) {
        if (!k.KeyId || keep.has(k.KeyId)) continue;
        let tags;
        try {
          tags = (await this.o.client.send(new ListResourceTagsCommand({ KeyId: k.KeyId }))).Tags ?? [];
        } catch (e) {
          const n = (e as { name?: string }).name;
          if (n === 'AccessDeniedException' || n === 'NotFoundException') continue;
          throw this.fail(e, 'read the tags of', k.KeyArn ?? k.KeyId);
        }
        const tag = (key: string) => tags.find((t) => t.TagKey === key)?.TagValue;
        if (tag('ca:name') !== this.o.caName || tag('ca:label') !== 'token') continue;
        const ref = k.KeyArn ?? k.KeyId;
        if (await this.scheduleDeletion(ref)) swept.push(ref);
      }
      marker = page.Truncated ? page.NextMarker : undefined;
    } while (marker);
    return swept;
  }
}

/**
 * The key set as the registry table's item `{pk: 'TOKEN#JWKS', jwks: S(JSON {keys}), updatedAt: S, keys: S(JSON
 * entries), pendingSince?: S}`: the authorizer reads `jwks` with one GetItem, the token endpoint reads `keys` (which
 * key signs now). One UpdateItem writes both, so they never disagree; `pendingSince` is the rotation's mark.
 */
export class DynamoDbTokenKeySet implements TokenKeySet {
  constructor(private readonly o: { client: DynamoDBClient; tableName: string }) {}

  describe(): string {
    return `dynamodb://${this.o.tableName}/${TOKEN_JWKS_KEY}`;
  }

  async load(): Promise<TokenKeyEntry[]> {
    let item;
    try {
      item = (await this.o.client.send(new GetItemCommand({ TableName: this.o.tableName, Key: { pk: { S: TOKEN_JWKS_KEY } }, ConsistentRead: true }))).Item;
    } catch (e) {
      throw awsError(e, 'read', `the token key set in DynamoDB table ${this.o.tableName}`);
    }
    const raw = item?.keys?.S;
    if (!raw) return [];
    try {
      const keys = JSON.parse(raw) as TokenKeyEntry[];
      if (!Array.isArray(keys)) throw new Error('keys is not a list');
      return keys;
    } catch (e) {
      throw storageError(`the token key set item ${TOKEN_JWKS_KEY} of ${this.o.tableName} is garbled: ${(e as Error).message}`, 'restore it from a backup of the table', e);
    }
  }

  /** One UpdateItem (attributes it does not name, the pending mark among them, stay). */
  private async update(expression: string, values: Record<string, { S: string }> | undefined, what: string): Promise<void> {
    // `keys` is a DynamoDB reserved word
    const names = expression.includes('#keys') ? { ExpressionAttributeNames: { '#keys': 'keys' } } : {};
    try {
      await this.o.client.send(
        new UpdateItemCommand({ TableName: this.o.tableName, Key: { pk: { S: TOKEN_JWKS_KEY } }, UpdateExpression: expression, ...names, ...(values ? { ExpressionAttributeValues: values } : {}) }),
      );
    } catch (e) {
      throw awsError(e, 'write', `${what} in DynamoDB table ${this.o.tableName}`);
    }
  }

  async save(entries: TokenKeyEntry[], jwks: { keys: PublicJwk[] }, updatedAt: string): Promise<void> {
    await this.update('SET jwks = :jwks, updatedAt = :at, #keys = :keys', { ':jwks': { S: JSON.stringify(jwks) }, ':at': { S: updatedAt }, ':keys': { S: JSON.stringify(entries) } }, 'the token key set');
  }

  async pendingSince(): Promise<string | undefined> {
    let item;
    try {
      item = (await this.o.client.send(new GetItemCommand({ TableName: this.o.tableName, Key: { pk: { S: TOKEN_JWKS_KEY } }, ConsistentRead: true, ProjectionExpression: 'pendingSince' }))).Item;
    } catch (e) {
      throw awsError(e, 'read', `the token key set in DynamoDB table ${this.o.tableName}`);
    }
    return item?.pendingSince?.S;
  }

  async markPending(at: string): Promise<void> {
    await this.update('SET pendingSince = :at', { ':at': { S: at } }, 'the token key set\'s pending mark');
  }

  async clearPending(): Promise<void> {
    await this.update('REMOVE pendingSince', undefined, 'the token key set\'s pending mark');
  }
}
