import type { Command } from 'commander';
import { usageError } from '../../domain/errors.js';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const az = program.command('authorizer').description('the Lambda authorizer that enforces revocation on every request');
  helpFooter(az, ['ca authorizer build                          # authorizer.zip for nodejs22.x, IAM policy answers', 'ca authorizer build --response-mode simple --json']);
  const build = az
    .command('build')
    .description('write authorizer.zip: one minified ESM bundle for nodejs22.x, handler index.handler')
    .option('--out <dir>', 'output directory', 'dist/authorizer')
    .option('--response-mode <mode>', 'iam: answer IAM policies (HTTP API authorizer with simple responses off, the AWS default; REST); simple: {isAuthorized} to HTTP API payload 2.0 (needs simple responses enabled)', 'iam')
    .option('--mode <mode>', 'what the authorizer checks: mtls (default), mtls+token, jwt-hs256, jwt-jwks or spiffe-jwt-svid (default: authorizerMode, CA_AUTHORIZER_MODE)')
    .action(async (o, c: Command) => {
      if (o.responseMode !== 'iam' && o.responseMode !== 'simple') throw usageError(`unknown --response-mode ${JSON.stringify(o.responseMode)}`, 'use iam (the default) or simple');
      const { authorizerDeploySettings, buildAuthorizerBundle } = await import('../../lambda/build.js');
      const { emit } = await import('../runtime.js');
      const { globals } = await import('../shared.js');
      const { resolveConfig } = await import('../config.js');
      const g = globals(c);
      const mode = resolveConfig({ config: g.config, env: g.env, ...(o.mode === undefined ? {} : { authorizerMode: String(o.mode) }) }).authorizerMode;
      const settings = authorizerDeploySettings(o.responseMode, mode);
      const r = await buildAuthorizerBundle({ outDir: o.out });
      emit({ json: !!globals(c).json }, { ...r, files: [r.zipPath], runtime: 'nodejs22.x', handler: 'index.handler', ...settings }, () =>
        [
          `wrote ${r.zipPath}`,
          `  index.mjs ${(r.bundleBytes / 1024).toFixed(0)} KiB, zip ${(r.zipBytes / 1024).toFixed(0)} KiB; runtime nodejs22.x, handler index.handler`,
          settings.responseMode === 'iam'
            ? '  answers: IAM policies to every event (CA_RESPONSE_MODE=iam, the default)'
            : '  answers: {isAuthorized} to HTTP API payload 2.0 events, IAM policies to payload 1.0 and REST (CA_RESPONSE_MODE=simple)',
          `  HTTP API authorizer: REQUEST, EnableSimpleResponses ${settings.httpApi.enableSimpleResponses}` +
            (settings.httpApi.enableSimpleResponses ? ' (required: without it every request is a 500)' : " (AWS's default; must match CA_RESPONSE_MODE)") +
            ', result TTL 0',
          '  REST API authorizer: REQUEST, result TTL 0 (its default is 300)',
          `  environment: CA_AUTHORIZER_MODE=${settings.mode}, CA_RESPONSE_MODE=${settings.responseMode}, ${settings.requiredEnvironment.join(', ')} (required), CA_CACHE_TTL_MS (max revocation delay) — see the README`,
          ...(settings.environment.NODE_OPTIONS ? [`  cold start: NODE_OPTIONS=${settings.environment.NODE_OPTIONS} SSL_CERT_FILE=${settings.environment.SSL_CERT_FILE} (the registry connection trusts the Amazon roots it carries)`] : []),
        ].join('\n'),
      );
    });
  helpFooter(build, [
    'ca authorizer build',
    'ca authorizer build --out build/ --json',
    'ca authorizer build --response-mode simple   # for an HTTP API authorizer with simple responses enabled',
    'ca authorizer build --mode mtls+token        # the certificate and an access token bound to it',
    'aws lambda update-function-code --function-name ca-authorizer --zip-file fileb://dist/authorizer/authorizer.zip',
  ]);
}
