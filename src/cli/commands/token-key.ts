import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const tk = program.command('token-key').description('the access token signing keys (ES256, in custody) and the published JWKS: list, rotate, prune');
  helpFooter(tk, ['ca token-key list', 'ca token-key rotate --dry-run', 'ca token-key prune --json']);
  const list = tk
    .command('list')
    .description('the keys of the published JWKS: which signs now, which waits for JWKS caches, which stays until its tokens expired')
    .action(async (o, c: Command) => {
      const { runTokenKey } = await import('./token-key.run.js');
      await runTokenKey('list', o, c);
    });
  helpFooter(list, ['ca token-key list', 'ca token-key list --json']);
  const rotate = tk
    .command('rotate')
    .description('publish a new signing key: it signs once JWKS caches can have seen it (11 min 30 s); the old one stays published until its last token expired; keys past that are removed')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (o, c: Command) => {
      const { runTokenKey } = await import('./token-key.run.js');
      await runTokenKey('rotate', o, c);
    });
  helpFooter(rotate, ['ca token-key rotate', 'ca token-key rotate --dry-run --json']);
  const prune = tk
    .command('prune')
    .description('remove the keys every token of which has expired (rotate does it too)')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (o, c: Command) => {
      const { runTokenKey } = await import('./token-key.run.js');
      await runTokenKey('prune', o, c);
    });
  helpFooter(prune, ['ca token-key prune --dry-run']);

  const token = program.command('token').description('the token endpoint Lambda (POST /token, the JWKS and the OAuth metadata)');
  helpFooter(token, ['ca token build', 'ca token build --out build/ --json']);
  const build = token
    .command('build')
    .description('write token.zip: one minified ESM bundle for nodejs22.x, handler index.handler (a proxy integration behind the mTLS authorizer)')
    .option('--out <dir>', 'output directory', 'dist/token')
    .action(async (o, c: Command) => {
      const { buildTokenBundle } = await import('../../lambda/build.js');
      const { emit } = await import('../runtime.js');
      const { globals } = await import('../shared.js');
      const r = await buildTokenBundle({ outDir: o.out });
      emit({ json: !!globals(c).json }, { ...r, files: [r.zipPath], runtime: 'nodejs22.x', handler: 'index.handler' }, () =>
        [
          `wrote ${r.zipPath}`,
          `  index.mjs ${(r.bundleBytes / 1024).toFixed(0)} KiB, zip ${(r.zipBytes / 1024).toFixed(0)} KiB; runtime nodejs22.x, handler index.handler`,
          '  routes: POST /token (behind the mTLS authorizer), GET /.well-known/jwks.json, GET /.well-known/oauth-authorization-server',
          '  environment: CA_TABLE (required), CA_TOKEN_ISSUER, CA_TOKEN_AUDIENCE, CA_TOKEN_TTL_SECONDS — see src/lambda/README.md',
        ].join('\n'),
      );
    });
  helpFooter(build, ['ca token build', 'aws lambda update-function-code --function-name ca-token --zip-file fileb://dist/token/token.zip']);
}
