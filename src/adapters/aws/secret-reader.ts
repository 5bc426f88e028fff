/**
 * Reads the HMAC secret of the `jwt-hs256` authorizer mode at cold start: Secrets Manager `GetSecretValue`
 * (stages AWSCURRENT and AWSPREVIOUS) or SSM `GetParameter` (WithDecryption), each one SigV4-signed JSON POST
 * (./sigv4.ts) over ./http1-client.ts (as the registry reader), without the AWS SDK client, so the Lambda bundle
 * stays free of it. Used once per cold start only.
 */
import { Http1Client } from './http1-client.js';
import { PostSigner, type SigV4Credentials } from './sigv4.js';

export type HmacSecretSource = { kind: 'secretsmanager'; secretId: string } | { kind: 'ssm'; name: string };

export interface HmacSecrets {
  /** AWSCURRENT (Secrets Manager) or the parameter's value (SSM) */
  current: Uint8Array;
  /** AWSPREVIOUS, while a rotation has left one */
  previous?: Uint8Array;
}

/** A failed read; `code` is the service's error type or a network error name. The message never holds a secret. */
export class SecretReadError extends Error {
  override name = 'SecretReadError';

  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/** A secret is at most 64 KB (Secrets Manager) or 8 KB (an advanced SSM parameter); the JSON around it is small. */
const MAX_ANSWER_BYTES = 1 << 20;

function endpointFor(env: Record<string, string | undefined>, service: 'secretsmanager' | 'ssm', region: string): string {
  const ignore = env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS?.trim().toLowerCase() === 'true';
  const specific = service === 'secretsmanager' ? env.AWS_ENDPOINT_URL_SECRETS_MANAGER : env.AWS_ENDPOINT_URL_SSM;
  const configured = ignore ? undefined : specific?.trim() || env.AWS_ENDPOINT_URL?.trim() || undefined;
  return configured ?? `https://${service}.${region}.amazonaws.com${region.startsWith('cn-') ? '.cn' : ''}`;
}

async function call(o: { client: Http1Client; endpoint: string; region: string; service: string; target: string; credentials: SigV4Credentials; body: object; timeoutMs: number }): Promise<Record<string, unknown>> {
  const url = new URL(o.endpoint);
  const body = JSON.stringify(o.body);
  const headers = new PostSigner(o.credentials, o.region, o.service).sign(
    url.pathname,
    { host: url.host, 'content-type': 'application/x-amz-json-1.1', 'x-amz-target': o.target },
    body,
    new Date(),
  );
  let res: { status: number; headers: Record<string, string>; body: Buffer };
  try {
    const { answer, abandon } = o.client.post(url.pathname, headers, body);
    const timer = setTimeout(abandon, o.timeoutMs);
    try {
      res = await answer;
    } finally {
      clearTimeout(timer);
    }
  } catch (e) {
    const code = (e as { code?: string }).code;
    const name = code === 'Abandoned' ? 'TimeoutError' : (code ?? (e as Error).name);
    throw new SecretReadError(`failed to call ${o.target}: ${name}: ${code === 'Abandoned' ? `no answer within ${o.timeoutMs} ms` : (e as Error).message}`, name);
  }
  const text = res.body.toString('utf8');
  let json: Record<string, unknown> = {};
  try {
    json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
  } catch {
    json = {};
  }
  if (res.status < 200 || res.status > 299) {
    const type = String(json.__type ?? res.headers['x-amzn-errortype'] ?? `Http${res.status}`).split('#').pop()!.split(':')[0]!;
    throw new SecretReadError(`failed to call ${o.target}: ${type} (HTTP ${res.status})`, type);
  }
  return json;
}

const bytesOf = (v: Record<string, unknown>, stringKey: string, binaryKey?: string): Uint8Array | undefined => {
  if (typeof v[stringKey] === 'string') return Buffer.from(v[stringKey] as string, 'utf8');
  if (binaryKey && typeof v[binaryKey] === 'string') return Buffer.from(v[binaryKey] as string, 'base64');
  return undefined;
};

/**
 * Reads the secret. Secrets Manager: AWSCURRENT, then AWSPREVIOUS (absent is fine). SSM: the parameter's current value,
 * then its previous version (absent is fine).
 * @throws SecretReadError when the current value cannot be read or is empty
 */
export async function readHmacSecrets(o: {
  source: HmacSecretSource;
  region: string;
  credentials: SigV4Credentials;
  env: Record<string, string | undefined>;
  timeoutMs: number;
}): Promise<HmacSecrets> {
  const endpoint = endpointFor(o.env, o.source.kind, o.region);
  // one connection for both reads (current, then previous)
  const client = new Http1Client({ origin: new URL(endpoint), maxResponseBytes: MAX_ANSWER_BYTES, maxConnections: 1 });
  try {
    return await readWith(client, endpoint, o);
  } finally {
    client.close();
  }
}

async function readWith(client: Http1Client, endpoint: string, o: Parameters<typeof readHmacSecrets>[0]): Promise<HmacSecrets> {
  if (o.source.kind === 'secretsmanager') {
    const base = { client, endpoint, region: o.region, service: 'secretsmanager', target: 'secretsmanager.GetSecretValue', credentials: o.credentials, timeoutMs: o.timeoutMs };
    const current = bytesOf(await call({ ...base, body: { SecretId: o.source.secretId, VersionStage: 'AWSCURRENT' } }), 'SecretString', 'SecretBinary');
    if (!current?.length) throw new SecretReadError(`secret ${o.source.secretId} has no AWSCURRENT value`, 'EmptySecret');
    let previous: Uint8Array | undefined;
    try {
      previous = bytesOf(await call({ ...base, body: { SecretId: o.source.secretId, VersionStage: 'AWSPREVIOUS' } }), 'SecretString', 'SecretBinary');
    } catch (e) {
      // no rotation yet: there is no AWSPREVIOUS version
      if (!(e instanceof SecretReadError) || e.code !== 'ResourceNotFoundException') throw e;
    }
    return { current, ...(previous?.length ? { previous } : {}) };
  }
  const get = async (name: string) =>
    ((
      await call({
        client,
        endpoint,
        region: o.region,
        service: 'ssm',
        target: 'AmazonSSM.GetParameter',
        credentials: o.credentials,
        timeoutMs: o.timeoutMs,
        body: { Name: name, WithDecryption: true },
      })
    ).Parameter ?? {}) as Record<string, unknown>;
  const p = await get(o.source.name);
  const current = bytesOf(p, 'Value');
  if (!current?.length) throw new SecretReadError(`parameter ${o.source.name} has no value`, 'EmptySecret');
  // the previous value is the parameter's previous version (`name:<version>` selector; SSM keeps the last 100), so
  // a PutParameter --overwrite rotates as Secrets Manager's stages do: tokens of the old secret pass until they expire
  const version = typeof p.Version === 'number' ? p.Version : Number(p.Version);
  let previous: Uint8Array | undefined;
  if (Number.isSafeInteger(version) && version > 1) {
    try {
      previous = bytesOf(await get(`${o.source.name}:${version - 1}`), 'Value');
    } catch (e) {
      if (!(e instanceof SecretReadError) || (e.code !== 'ParameterVersionNotFound' && e.code !== 'ParameterNotFound')) throw e;
    }
  }
  return { current, ...(previous?.length ? { previous } : {}) };
}
