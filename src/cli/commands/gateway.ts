import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('gateway')
    .description('run a local HTTPS endpoint that behaves like an API Gateway mTLS custom domain with the authorizer')
    .option('--port <n>', 'port on 127.0.0.1', '8443')
    .option('--shape <shape>', 'authorizer event shape: v2 (HTTP API payload 2.0) or rest', 'v2')
    .option('--response <mode>', 'HTTP API authorizer response: simple or iam', 'simple')
    .option('--mode <mode>', 'authorizer mode: mtls (default), mtls+token, jwt-hs256, jwt-jwks or spiffe-jwt-svid (also authorizerMode, CA_AUTHORIZER_MODE)')
    .option('--cache-ttl-ms <ms>', 'authorizer cache TTL, the maximum revocation delay', '0')
    .option('--quiet', 'do not log each request on stderr')
    .action(async (o, c: Command) => {
      const { runGateway } = await import('./gateway.run.js');
      await runGateway(o, c);
    });
  helpFooter(cmd, [
    'ca gateway &',
    'curl --cacert pki/truststore.pem --cert bundles/acme/acme.crt --key bundles/acme/acme.key https://localhost:8443/',
    'ca revoke acme --yes && curl ... https://localhost:8443/      # now 403',
    'ca gateway --shape rest --port 9443 --cache-ttl-ms 5000',
    'ca gateway --mode mtls+token      # the certificate and a token bound to it: -H "Authorization: Bearer …"',
  ]);
}
