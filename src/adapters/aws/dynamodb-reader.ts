/**
 * The authorizer's registry reader: one strongly consistent DynamoDB `GetItem` by primary key, signed with
 * SigV4 (./sigv4.ts) and sent over node:tls by ./http1-client.ts, without the AWS SDK client. The full DynamoDB client costs the Lambda
 * ~300 KB of bundle and ~70 ms of cold start (import, then credential/endpoint resolution on the first
 * request) for this one call. Records are decoded by the same codec DynamoDbRegistry uses.
 */
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { Http1Client, Http1Error } from './http1-client.js';
import { PostSigner } from './sigv4.js';
import type { CertificateRecord, RegistryReader } from '../../ports.js';
import { certKey, itemToRecord, type StringAttribute } from './dynamodb-codec.js';
import { TOKEN_JWKS_KEY } from '../../domain/token-claims.js';
import { AMAZON_TRUST_SERVICES_ROOTS } from './amazon-roots.js';

type Item = Record<string, StringAttribute>;

export interface AwsCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface DynamoDbGetItemReaderOptions {
  tableName: string;
  region: string;
  /** e.g. `https://dynamodb.eu-west-1.amazonaws.com` (the default for the region) or a local `http://` endpoint */
  endpoint?: string;
  credentials: AwsCredentials;
  /** bound on one `get`, both attempts included */
  timeoutMs: number;
  /** signing time (tests); the system clock by default */
  now?: () => Date;
  /** called once per HTTP attempt, with the operation name (request counting, as DynamoDbRegistry's) */
  onRequest?: (operation: string) => void;
  /**
   * PEM certificates an https endpoint's chain must end in (the TLS `ca`, see registryTrustedRoots); absent:
   * Node's default store
   */
  trustedRoots?: readonly string[];
  /** connections open at once, one read each (default 4); more reads wait for one */
  maxConnections?: number;
  /**
   * Reads asked for while the connection `preconnect` opened is still in its handshake go out as one
   * BatchGetItem when it is ready (they would all wait for it anyway): the authorizer's mtls+token mode asks for
   * the token key set and the first client record at once at cold start, one round trip instead of two. Needs
   * `dynamodb:BatchGetItem`; where it is denied, the reader falls back to GetItem for good.
   */
  batchWhileConnecting?: boolean;
}

const TARGET = 'DynamoDB_20120810.GetItem';
const BATCH_TARGET = 'DynamoDB_20120810.BatchGetItem';
const MAX_BATCH_KEYS = 100;
/** An item is at most 400 KB (aws-facts); anything much larger is not a GetItem answer. */
const MAX_RESPONSE_BYTES = 1 << 20;
/** Answers worth one more attempt: DynamoDB's own retryable errors (throttling, 5xx). */
const RETRYABLE_TYPES = new Set(['ProvisionedThroughputExceededException', 'ThrottlingException', 'RequestLimitExceeded', 'InternalServerError', 'ServiceUnavailable']);

/** A failed GetItem; `code` is DynamoDB's error type (`ResourceNotFoundException`, …) or a network error code. */
export class DynamoDbReadError extends Error {
  override name = 'DynamoDbReadError';

  constructor(
    message: string,
    readonly code: string,
    readonly retryable: boolean,
    readonly status?: number,
  ) {
    super(message);
  }
}

// A control character or space in a credential would break the Authorization header (or be a pasted newline).
const CREDENTIAL_CHARS = /^[\x21-\x7e]+$/;

/**
 * The reader's settings from a Lambda environment: credentials from `AWS_ACCESS_KEY_ID`,
 * `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN` (set by Lambda from the execution role), endpoint from
 * `AWS_ENDPOINT_URL_DYNAMODB`, `AWS_ENDPOINT_URL`, else the region's default.
 * @throws Error naming the variable that is missing or malformed
 */
export function getItemReaderEnv(env: Record<string, string | undefined>, region: string): Pick<DynamoDbGetItemReaderOptions, 'credentials' | 'endpoint' | 'trustedRoots'> {
  const accessKeyId = env.AWS_ACCESS_KEY_ID?.trim();
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY?.trim();
  const sessionToken = env.AWS_SESSION_TOKEN?.trim() || undefined;
  if (!accessKeyId || !secretAccessKey) {
    throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set: Lambda sets them from the execution role; elsewhere, export credentials allowed dynamodb:GetItem on the table');
  }
  // IAM access key ids are word characters (IAM API AccessKeyId pattern [\w]+).
  if (!/^\w+$/.test(accessKeyId)) throw new Error('AWS_ACCESS_KEY_ID is malformed: expected letters and digits only (like AKIA… or ASIA…)');
  if (!CREDENTIAL_CHARS.test(secretAccessKey)) throw new Error('AWS_SECRET_ACCESS_KEY is malformed: it contains spaces or control characters');
  if (sessionToken !== undefined && !CREDENTIAL_CHARS.test(sessionToken)) throw new Error('AWS_SESSION_TOKEN is malformed: it contains spaces or control characters');
  const ignoreConfigured = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() === 'true';
  const configured = ignoreConfigured ? undefined : env.AWS_ENDPOINT_URL_DYNAMODB?.trim() || env.AWS_ENDPOINT_URL?.trim() || undefined;
  if (!configured) {
    // The SDK's endpoint rules pick FIPS / dual-stack hosts from these; rather than guess them, ask for the URL.
    for (const v of ['AWS_USE_FIPS_ENDPOINT', 'AWS_USE_DUALSTACK_ENDPOINT']) {
      if (env[v]?.trim().toLowerCase() === 'true') throw new Error(`${v} is set: give the DynamoDB endpoint explicitly in AWS_ENDPOINT_URL_DYNAMODB`);
    }
  }
  const endpoint = configured ?? defaultEndpoint(region);
  const trustedRoots = registryTrustedRoots(env, endpoint);
  return { credentials: { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) }, endpoint, ...(trustedRoots ? { trustedRoots } : {}) };
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;

/** The PEM certificates of a file named by `variable`. @throws Error naming the variable and the file */
function certificatesIn(path: string, variable: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new Error(`${variable}: failed to read ${path}: ${(e as Error).message}`);
  }
  const pems = text.match(PEM_CERTIFICATE) ?? [];
  if (!pems.length) throw new Error(`${variable}: ${path} holds no PEM certificate`);
  return pems;
}

/**
 * The roots an https registry endpoint must chain to, from `CA_REGISTRY_TLS_ROOTS`: `amazon` (the default for a
 * host under amazonaws.com) trusts the Amazon Trust Services roots only (./amazon-roots.ts); `system` (the
 * default elsewhere, e.g. amazonaws.com.cn, whose roots AWS does not document) leaves Node's default store; an
 * absolute path trusts the PEM certificates in that file instead (a TLS-inspecting proxy, an https stand-in of
 * DynamoDB). With `amazon` or a file, the certificates of `NODE_EXTRA_CA_CERTS` are trusted too, as Node adds
 * them to its own store, which an explicit `ca` otherwise leaves out. Undefined: Node's default store.
 * @throws Error naming the variable on an unknown value or a file without certificates
 */
export function registryTrustedRoots(env: Record<string, string | undefined>, endpoint: string): readonly string[] | undefined {
  const raw = env.CA_REGISTRY_TLS_ROOTS?.trim();
  let host = '';
  try {
    host = new URL(endpoint).hostname.toLowerCase();
  } catch {
    // the reader's constructor names the bad endpoint
  }
  const mode = raw || (host.endsWith('.amazonaws.com') ? 'amazon' : 'system');
  let roots: string[];
  if (mode === 'system') return undefined;
  if (mode === 'amazon') roots = AMAZON_TRUST_SERVICES_ROOTS.map((r) => r.pem);
  else if (mode.startsWith('/')) roots = certificatesIn(mode, 'CA_REGISTRY_TLS_ROOTS');
  else throw new Error(`CA_REGISTRY_TLS_ROOTS ${JSON.stringify(raw)} is not amazon, system or an absolute path to a PEM file of root certificates`);
  const extra = env.NODE_EXTRA_CA_CERTS?.trim();
  if (extra) roots.push(...certificatesIn(extra, 'NODE_EXTRA_CA_CERTS'));
  return roots;
}

/** DynamoDB's regional endpoint in the standard, China and GovCloud partitions. @throws Error for another partition */
export function defaultEndpoint(region: string): string {
  if (!/^[a-z]{2}(-[a-z]+)+-\d+$/.test(region)) throw new Error(`AWS_REGION ${JSON.stringify(region)} is not a region name`);
  if (/^[a-z]{2}-iso/.test(region)) throw new Error(`region ${region} is in an isolated partition: give the DynamoDB endpoint in AWS_ENDPOINT_URL_DYNAMODB`);
  return `https://dynamodb.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

/**
 * RegistryReader over one DynamoDB table (schema in README.md beside this file): `get` is a strongly
 * consistent GetItem of `CERT#<serial>` (with batchWhileConnecting, reads asked for during the first handshake
 * share one strongly consistent BatchGetItem). Every failure (HTTP error, DynamoDB error, network, timeout) throws
 * DynamoDbReadError, so the authorizer denies.
 */
export class DynamoDbGetItemReader implements RegistryReader {
  readonly tableName: string;
  private readonly url: URL;
  private readonly signer: PostSigner;
  private readonly client: Http1Client;
  private readonly timeoutMs: number;
  private readonly now: () => Date;
  private readonly onRequest?: (operation: string) => void;
  private readonly batchWhileConnecting: boolean;
  /** BatchGetItem was denied (AccessDeniedException): GetItem only from then on */
  private batchDenied = false;
  /** reads gathered during the preconnected connection's handshake, by partition key */
  private gathered?: Map<string, { resolve: (item: Item | undefined) => void; reject: (e: unknown) => void }[]>;

  /** @throws Error on an endpoint that is not an http(s) URL or a timeout that is not positive */
  constructor(o: DynamoDbGetItemReaderOptions) {
    this.tableName = o.tableName;
    const endpoint = o.endpoint ?? defaultEndpoint(o.region);
    let url: URL;
    try {
      url = new URL(endpoint);
    } catch {
      throw new Error(`DynamoDB endpoint ${JSON.stringify(endpoint)} is not a URL`);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(`DynamoDB endpoint ${endpoint} must be http(s)`);
    if (url.search || url.hash || url.username || url.password) throw new Error(`DynamoDB endpoint ${endpoint} must not carry a query, fragment or user`);
    // The signed path is used as it is: one that would need URI-encoding is no DynamoDB endpoint.
    if (!/^\/[\w./~-]*$/.test(url.pathname)) throw new Error(`DynamoDB endpoint ${endpoint} has a path that is not plain ASCII`);
    if (!(o.timeoutMs > 0)) throw new Error(`DynamoDB read timeout must be positive, got ${o.timeoutMs}`);
    this.url = url;
    this.timeoutMs = o.timeoutMs;
    this.now = o.now ?? (() => new Date());
    this.onRequest = o.onRequest;
    this.batchWhileConnecting = o.batchWhileConnecting === true;
    this.client = new Http1Client({ origin: url, maxResponseBytes: MAX_RESPONSE_BYTES, ...(o.maxConnections ? { maxConnections: o.maxConnections } : {}), ...(o.trustedRoots ? { ca: [...o.trustedRoots] } : {}) });
    const credentials = { ...o.credentials };
    this.signer = new PostSigner(credentials, o.region, 'dynamodb');
  }

  /**
   * Opens the first connection now (TCP and the TLS handshake under way) so that the first read finds it ready:
   * called at cold start, the handshake overlaps the rest of the initialisation and the first decision's own
   * work instead of following it. A warm instance reuses its kept-alive connection; one dropped while Lambda was
   * frozen fails on reuse and the read is retried once on a fresh one, which resumes the TLS session. Resolves
   * when the TCP connection is up (or failed, or after `waitMs`); never rejects, never throws. A connection that
   * fails is dropped and the read opens its own.
   */
  preconnect(waitMs = 0): Promise<void> {
    return this.client.preconnect(waitMs);
  }

  async get(serial: string): Promise<CertificateRecord | undefined> {
    const item = await this.item(certKey(serial));
    return item === undefined ? undefined : itemToRecord(item);
  }

  /**
   * The token key set the token service publishes (item `TOKEN#JWKS`, attribute `jwks`: an RFC 7517 JWK Set as
   * a JSON string), parsed; undefined when the item or its `jwks` is absent. Decoding only: the authorizer checks the keys.
   * @throws DynamoDbReadError on a failed read or an item whose `jwks` is not a JSON object
   */
  async tokenKeySet(): Promise<unknown> {
    const item = await this.item(TOKEN_JWKS_KEY);
    // no item, or only the mark of a first rotation that has not published yet: no key set
    if (item === undefined || item.jwks === undefined) return undefined;
    const raw = item.jwks.S;
    let doc: unknown;
    try {
      doc = typeof raw === 'string' ? JSON.parse(raw) : undefined;
    } catch {
      doc = undefined;
    }
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) {
      throw new DynamoDbReadError(`failed to read ${TOKEN_JWKS_KEY} from DynamoDB table ${this.tableName}: its jwks attribute is not a JSON object string`, 'InvalidResponse', false);
    }
    return doc;
  }

  /** One item by partition key: gathered into the handshake's batch (batchWhileConnecting), else one GetItem. */
  private item(pk: string): Promise<Item | undefined> {
    if (!this.batchWhileConnecting || this.batchDenied) return this.getItem(pk);
    const handshake = this.client.handshaking();
    if (!this.gathered && !handshake) return this.getItem(pk);
    return new Promise((resolve, reject) => {
      if (!this.gathered) {
        const gathered = (this.gathered = new Map());
        // Bounded like a GetItem asked for now: a handshake that never ends sends the reads at the deadline,
        // where they time out.
        const deadline = performance.now() + this.timeoutMs;
        const timer = setTimeout(() => void this.flush(gathered, deadline), this.timeoutMs);
        void handshake!.then(() => {
          clearTimeout(timer);
          void this.flush(gathered, deadline);
        });
      }
      const waiters = this.gathered.get(pk) ?? [];
      waiters.push({ resolve, reject });
      this.gathered.set(pk, waiters);
    });
  }

  /** Sends the reads gathered during the handshake: one GetItem for one key, else one BatchGetItem. */
  private async flush(gathered: NonNullable<DynamoDbGetItemReader['gathered']>, deadline: number): Promise<void> {
    if (this.gathered !== gathered) return;
    this.gathered = undefined;
    const keys = [...gathered.keys()];
    const settle = (pk: string, r: { item?: Item } | { error: unknown }) => {
      for (const w of gathered.get(pk)!) 'error' in r ? w.reject(r.error) : w.resolve(r.item);
    };
    const one = (pk: string) => this.getItem(pk, deadline).then((item) => settle(pk, { item }), (error: unknown) => settle(pk, { error }));
    if (keys.length === 1) return one(keys[0]!);
    // BatchGetItem takes at most 100 keys
    const slices: string[][] = [];
    for (let i = 0; i < keys.length; i += MAX_BATCH_KEYS) slices.push(keys.slice(i, i + MAX_BATCH_KEYS));
    await Promise.all(slices.map((slice) => this.flushKeys(slice, settle, one, deadline)));
  }

  /** One BatchGetItem of `keys` (2 to 100 of them), its answers handed to `settle`, unprocessed keys to `one`. */
  private async flushKeys(keys: string[], settle: (pk: string, r: { item?: Item } | { error: unknown }) => void, one: (pk: string) => Promise<void>, deadline: number): Promise<void> {
    if (keys.length === 1) return one(keys[0]!);
    let found: Map<string, Item>;
    let unprocessed: string[];
    try {
      ({ found, unprocessed } = await this.batchGetItem(keys, deadline));
    } catch (e) {
      if (e instanceof DynamoDbReadError && e.code === 'AccessDeniedException') {
        // a role without dynamodb:BatchGetItem (a policy written before this reader batched): GetItem, as before
        this.batchDenied = true;
        await Promise.all(keys.map(one));
        return;
      }
      for (const pk of keys) settle(pk, { error: e });
      return;
    }
    const retry = new Set(unprocessed);
    // certificate records first: one may lead to the next read of a decision (the client's intermediate), which
    // then goes out before the work the key set's answer starts (importing its keys) runs
    const order = [...keys.filter((pk) => pk.startsWith('CERT#')), ...keys.filter((pk) => !pk.startsWith('CERT#'))];
    for (const pk of order) if (!retry.has(pk)) settle(pk, { item: found.get(pk) });
    // keys DynamoDB left unprocessed (throughput): each read again on its own
    await Promise.all(unprocessed.map(one));
  }

  /** One strongly consistent GetItem by partition key, retried once on a retryable failure. */
  private async getItem(pk: string, deadline = performance.now() + this.timeoutMs): Promise<Item | undefined> {
    // Monotonic deadline: a wall clock stepped back between the attempts would stretch the retry's.
    const body = JSON.stringify({ TableName: this.tableName, Key: { pk: { S: pk } }, ConsistentRead: true });
    const answer = (await this.withRetry(() => this.attempt(TARGET, 'GetItem', body, deadline), deadline)) as { Item?: Item };
    if (answer.Item === undefined) return undefined;
    if (answer.Item === null || typeof answer.Item !== 'object') throw new DynamoDbReadError(`failed to read ${pk} from DynamoDB table ${this.tableName}: the answer's Item is not an object`, 'InvalidResponse', false);
    return answer.Item;
  }

  /**
   * One strongly consistent BatchGetItem of these partition keys (distinct, at most 100), retried once on a
   * retryable failure: the items found by key, and the keys DynamoDB left unprocessed.
   */
  private async batchGetItem(keys: string[], deadline: number): Promise<{ found: Map<string, Item>; unprocessed: string[] }> {
    const body = JSON.stringify({ RequestItems: { [this.tableName]: { Keys: keys.map((pk) => ({ pk: { S: pk } })), ConsistentRead: true } } });
    const answer = await this.withRetry(() => this.attempt(BATCH_TARGET, 'BatchGetItem', body, deadline), deadline);
    const bad = (why: string) => new DynamoDbReadError(`failed to read from DynamoDB table ${this.tableName}: the BatchGetItem answer ${why}`, 'InvalidResponse', false);
    const items = (answer.Responses as Record<string, unknown> | undefined)?.[this.tableName] ?? [];
    if (!Array.isArray(items)) throw bad('has no list of items');
    const asked = new Set(keys);
    const found = new Map<string, Item>();
    for (const item of items as unknown[]) {
      const pk = (item as Item | null)?.pk?.S;
      if (typeof pk !== 'string' || !asked.has(pk)) throw bad('holds an item that was not asked for');
      found.set(pk, item as Item);
    }
    const left = ((answer.UnprocessedKeys as Record<string, { Keys?: unknown }> | undefined)?.[this.tableName]?.Keys ?? []) as unknown[];
    if (!Array.isArray(left)) throw bad('has malformed UnprocessedKeys');
    const unprocessed: string[] = [];
    for (const k of left) {
      const pk = (k as { pk?: { S?: unknown } } | null)?.pk?.S;
      if (typeof pk !== 'string' || !asked.has(pk) || found.has(pk)) throw bad('has malformed UnprocessedKeys');
      unprocessed.push(pk);
    }
    return { found, unprocessed };
  }

  /** `send`, and once more on a retryable failure while the deadline allows. */
  private async withRetry(send: () => Promise<Record<string, unknown>>, deadline: number): Promise<Record<string, unknown>> {
    try {
      return await send();
    } catch (e) {
      if (!(e instanceof DynamoDbReadError) || !e.retryable || performance.now() >= deadline) throw e;
      return send();
    }
  }

  private async attempt(target: string, operation: string, body: string, deadline: number): Promise<Record<string, unknown>> {
    const headers = this.signer.sign(
      this.url.pathname,
      { host: this.url.host, 'content-type': 'application/x-amz-json-1.0', 'content-length': String(Buffer.byteLength(body)), 'x-amz-target': target },
      body,
      this.now(),
    );
    this.onRequest?.(operation);
    const { status, type, text } = await this.post(headers, body, deadline);
    let json: Record<string, unknown> | undefined;
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : undefined;
    } catch {
      json = undefined;
    }
    if (status >= 200 && status < 300) {
      if (!json || typeof json !== 'object') throw new DynamoDbReadError(`failed to read from DynamoDB table ${this.tableName}: the answer is not a JSON object (HTTP ${status})`, 'InvalidResponse', false, status);
      return json;
    }
    // JSON protocol errors: `__type` is `<namespace>#<Name>`, the message is `message` or `Message`.
    const errType = String(json?.__type ?? type ?? `Http${status}`).split('#').pop()!.split(':')[0]!;
    const message = String(json?.message ?? json?.Message ?? text.slice(0, 200));
    const retryable = status >= 500 || RETRYABLE_TYPES.has(errType);
    const what = errType === 'ResourceNotFoundException' ? `DynamoDB table ${this.tableName} not found` : `failed to read from DynamoDB table ${this.tableName}`;
    throw new DynamoDbReadError(`${what}: ${errType}: ${message} (HTTP ${status})`, errType, retryable, status);
  }

  private async post(headers: Record<string, string>, body: string, deadline: number): Promise<{ status: number; type?: string; text: string }> {
    const { answer, abandon } = this.client.post(this.url.pathname, headers, body);
    return new Promise((resolve, reject) => {
      // A timer rather than an AbortSignal: the signal plumbing loads Node's stream utilities on the cold path.
      const timer = setTimeout(() => {
        abandon();
        reject(new DynamoDbReadError(`failed to read from DynamoDB table ${this.tableName}: no answer within ${this.timeoutMs} ms`, 'Timeout', false));
      }, Math.max(0, deadline - performance.now()));
      answer.then(
        (a) => {
          clearTimeout(timer);
          resolve({ status: a.status, type: a.headers['x-amzn-errortype'], text: a.body.toString('utf8') });
        },
        (e: Http1Error) => {
          clearTimeout(timer);
          if (e.code === 'TooLarge') reject(new DynamoDbReadError(`failed to read from DynamoDB table ${this.tableName}: ${e.message}`, 'InvalidResponse', false));
          else reject(new DynamoDbReadError(`failed to read from DynamoDB table ${this.tableName}: ${e.code}: ${e.message}`, e.code, e.retryable));
        },
      );
    });
  }
}
