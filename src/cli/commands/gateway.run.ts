import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { usageError, notFound } from '../../domain/errors.js';
import { startGateway, type StartGatewayOptions } from '../../gateway/server.js';
import { issueServerCertificate } from '../../gateway/server-cert.js';
import { readTokenEnv } from '../../lambda/config.js';
import type { AuthorizerMode } from '../../lambda/token.js';
import { parseRouteScopes } from '../../lambda/token.js';
import { emit, info, openRuntime, type Runtime } from '../runtime.js';
import { wholeNumberFlag } from '../input.js';

/** The local file the local store's token key set is published to. */
export const localTokenKeySetPath = (dir: string) => join(dir, 'token', 'jwks.json');

/**
 * The token checks of the gateway's mode, from the same variables as the Lambda's (src/lambda/README.md); in
 * mtls+token, issuer and audience default to the gateway's own URL and the keys are the store's published set.
 */
function gatewayToken(mode: AuthorizerMode, rt: Runtime, url: string, env: NodeJS.ProcessEnv): StartGatewayOptions['token'] {
  if (mode === 'mtls') return undefined;
  const withDefaults = mode === 'mtls+token' ? { ...env, CA_TOKEN_ISSUER: env.CA_TOKEN_ISSUER?.trim() || url, CA_TOKEN_AUDIENCE: env.CA_TOKEN_AUDIENCE?.trim() || url } : env;
  let parsed: ReturnType<typeof readTokenEnv>;
  let routeScopes;
  try {
    parsed = readTokenEnv(withDefaults, mode);
    routeScopes = env.CA_ROUTE_SCOPES?.trim() ? parseRouteScopes(env.CA_ROUTE_SCOPES) : undefined;
  } catch (e) {
    throw usageError(`failed to configure mode ${mode}: ${(e as Error).message}`, 'see "Bearer-token authorizer modes" in the README');
  }
  const sources: NonNullable<StartGatewayOptions['token']>['sources'] = {};
  if (mode === 'mtls+token') {
    if (rt.config.store === 'local') sources.keySet = async () => JSON.parse(await readFile(localTokenKeySetPath(rt.config.dir), 'utf8')) as unknown;
    else {
      const table = rt.config.aws.table;
      const region = rt.config.aws.region;
      if (!table || !region) throw usageError('mode mtls+token on the aws store needs the registry table and region', 'set aws.table and aws.region (CA_AWS_TABLE, CA_AWS_REGION)');
      sources.keySet = async () => {
        const [{ DynamoDBClient }, { readTokenKeySet }] = await Promise.all([import('@aws-sdk/client-dynamodb'), import('../../adapters/aws/token-key-set.js')]);
        return readTokenKeySet(new DynamoDBClient({ region }), table);
      };
    }
  }
  if (parsed.jwksUrl) sources.jwksUrl = parsed.jwksUrl;
  if (parsed.secret) {
    const secret = parsed.secret;
    sources.secrets = async () => {
      const [{ readHmacSecrets }, { getItemReaderEnv }] = await Promise.all([import('../../adapters/aws/secret-reader.js'), import('../../adapters/aws/dynamodb-reader.js')]);
      const region = rt.config.aws.region ?? env.AWS_REGION ?? 'us-east-1';
      return readHmacSecrets({ source: secret, region, credentials: getItemReaderEnv(env, region).credentials, env, timeoutMs: 5_000 });
    };
  }
  return { settings: parsed.token!, sources, ...(routeScopes ? { routeScopes } : {}) };
}

export async function runGateway(o: Record<string, any>, cmd: Command): Promise<void> {
  const asked = wholeNumberFlag('--port', o.port, 0, 65535);
  // the token issuer and audience are the gateway's URL, so `--port 0` is resolved to a free port up front
  const port = asked === 0 ? await freeLoopbackPort() : asked;
  if (o.shape !== 'v2' && o.shape !== 'rest') throw usageError(`unknown --shape ${o.shape}`, 'use v2 or rest');
  if (o.response !== 'simple' && o.response !== 'iam') throw usageError(`unknown --response ${o.response}`, 'use simple or iam');
  const ttl = wholeNumberFlag('--cache-ttl-ms', o.cacheTtlMs, 0, 86_400_000);
  const rt = await openRuntime(cmd, { settings: o.mode === undefined ? {} : { authorizerMode: String(o.mode) } });
  const mode = rt.config.authorizerMode;
  const ts = await rt.store.truststore.current();
  if (!ts) throw notFound('no truststore published yet', 'run `ca bootstrap` first');
  const token = gatewayToken(mode, rt, `https://localhost:${port}`, process.env);
  // the server certificate is issued by this CA for localhost, so clients trust it with the truststore itself
  const { gatewayTokenEndpoint } = await import('../gateway-token.js');
  const log = o.quiet ? undefined : (e: object) => process.stderr.write(JSON.stringify(e) + '\n');
  // the token service and the token checks agree on issuer and audience: both default to the gateway's own URL
  const tokenEndpoint = await gatewayTokenEndpoint(rt, cmd, log, { issuer: `https://localhost:${port}`, audience: `https://localhost:${port}` });
  const server = await issueServerCertificate(rt.ctx, { dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  const gw = await startGateway({
    registry: rt.store.registry,
    truststorePem: ts.pem,
    serverCertPem: server.certificatePem + server.chainPem,
    serverKeyPem: server.privateKeyPem,
    port,
    host: '127.0.0.1',
    shape: o.shape,
    responseMode: o.response,
    cacheTtlMs: ttl,
    mode,
    ...(token ? { token } : {}),
    log,
    tokenEndpoint,
  });
  const url = gw.url.replace('127.0.0.1', 'localhost');
  emit(rt, { url, port: gw.port, shape: o.shape, mode, truststoreVersion: ts.version, cacheTtlMs: ttl }, () =>
    [
      `gateway listening on ${url} (${o.shape === 'v2' ? 'HTTP API payload 2.0' : 'REST API'} authorizer in mode ${mode}, truststore version ${ts.version})`,
      `token: curl --cacert <truststore> --cert <crt> --key <key> -d grant_type=client_credentials ${url}token`,
      `try: curl --cacert ${rt.config.store === 'local' ? `${rt.config.dir}/truststore.pem` : 'truststore.pem'} --cert bundles/<id>/<id>.crt --key bundles/<id>/<id>.key ${mode === 'mtls' ? '' : '-H "Authorization: Bearer <token>" '}${url}`,
    ].join('\n'),
  );
  info('press Ctrl-C to stop');
  await new Promise<void>((resolve) => {
    const stop = () => void gw.close().then(resolve);
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
  rt.done();
}

/** A port no one listens on at 127.0.0.1 now (the kernel's choice for port 0). */
function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
