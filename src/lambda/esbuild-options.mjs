// The authorizer bundle's esbuild options, shared by src/lambda/build.ts (`ca authorizer build` in a checkout)
// and the package build (which prebuilds dist/lambda/index.mjs, since esbuild is not installed with the CLI).

/**
 * @param {string} root the package root
 * @returns {import('esbuild').BuildOptions}
 */
export function authorizerBuildOptions(root) {
  return {
    absWorkingDir: root,
    entryPoints: ['src/lambda/handler.ts'],
    bundle: true,
    minify: true,
    format: 'esm',
    platform: 'node',
    target: 'node22',
    // Everything the handler imports is bundled (the registry reader and its SigV4 signer, both our own code
    // on node: modules; no AWS SDK client), so the zip runs with nothing outside it.
    mainFields: ['module', 'main'],
    legalComments: 'none',
    logLevel: 'silent',
  };
}

/**
 * The token endpoint bundle (src/lambda/token-handler.ts): the same settings. It bundles the KMS and DynamoDB SDK
 * clients it signs and reads the key set with (the token route is not on every request's path, as the authorizer is).
 * @param {string} root the package root
 * @returns {import('esbuild').BuildOptions}
 */
export function tokenBuildOptions(root) {
  return { ...authorizerBuildOptions(root), entryPoints: ['src/lambda/token-handler.ts'] };
}
