import type { Command } from 'commander';
import { usageError, notFound } from '../../domain/errors.js';
import { startGateway } from '../../gateway/server.js';
import { issueServerCertificate } from '../../gateway/server-cert.js';
import { emit, info, openRuntime } from '../runtime.js';
import { wholeNumberFlag } from '../input.js';

export async function runGateway(o: Record<string, any>, cmd: Command): Promise<void> {
  const port = wholeNumberFlag('--port', o.port, 0, 65535);
  if (o.shape !== 'v2' && o.shape !== 'rest') throw usageError(`unknown --shape ${o.shape}`, 'use v2 or rest');
  if (o.response !== 'simple' && o.response !== 'iam') throw usageError(`unknown --response ${o.response}`, 'use simple or iam');
  const ttl = wholeNumberFlag('--cache-ttl-ms', o.cacheTtlMs, 0, 86_400_000);
  const rt = await openRuntime(cmd);
  const ts = await rt.store.truststore.current();
  if (!ts) throw notFound('no truststore published yet', 'run `ca bootstrap` first');
  // the server certificate is issued by this CA for localhost, so clients trust it with the truststore itself
  const { gatewayTokenEndpoint } = await import('../gateway-token.js');
  const log = o.quiet ? undefined : (e: object) => process.stderr.write(JSON.stringify(e) + '\n');
  const tokenEndpoint = await gatewayTokenEndpoint(rt, cmd, log);
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
    log,
    tokenEndpoint,
  });
  const url = gw.url.replace('127.0.0.1', 'localhost');
  emit(rt, { url, port: gw.port, shape: o.shape, truststoreVersion: ts.version, cacheTtlMs: ttl }, () =>
    [
      `gateway listening on ${url} (${o.shape === 'v2' ? 'HTTP API payload 2.0' : 'REST API'} authorizer, truststore version ${ts.version})`,
      `token: curl --cacert <truststore> --cert <crt> --key <key> -d grant_type=client_credentials ${url}token`,
      `try: curl --cacert ${rt.config.store === 'local' ? `${rt.config.dir}/truststore.pem` : 'truststore.pem'} --cert bundles/<id>/<id>.crt --key bundles/<id>/<id>.key ${url}`,
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
