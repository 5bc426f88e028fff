// The authorizer bundle's esbuild options, shared by src/lambda/build.ts (`ca authorizer build` in a checkout)
// and the package build (which prebuilds dist/lambda/index.mjs, since esbuild is not installed with the CLI).

/**
 * Node's built-in modules reach the bundle through `process.getBuiltinModule` (Node >= 20.16 and 22.3; the Lambda
 * runtime is nodejs22.x, the CLI needs 20.19), not as ES module imports. Measured reason: importing a built-in as an
 * ES module builds its module namespace from every export, running each lazy getter, so `node:crypto` loads
 * WebCrypto, `node:tls` copies Node's bundled root certificates into strings and `node:net` loads BlockList and
 * SocketAddress, none of which the authorizer uses (4 modules fewer at its cold start). On the bench VM the
 * authorizer's import took ~1.3 ms less this way (16.3-16.5 against 17.5-18.1 ms, medians of 120 alternating cold
 * processes each, in-process timing, same bundle otherwise); in wall time that is within the noise of 20 rounds.
 * The bench rows "built-ins through process.getBuiltinModule vs ES module imports" keep measuring both. Only
 * static imports of `node:` ids are rewritten; an `import()` of one stays as it is.
 * @type {import('esbuild').Plugin}
 */
export const builtinsThroughGetBuiltinModule = {
  name: 'builtins-through-getBuiltinModule',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => (a.kind === 'import-statement' ? { path: a.path, namespace: 'node-builtin' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (a) => ({ contents: `module.exports = process.getBuiltinModule(${JSON.stringify(a.path)});\n`, loader: 'js' }));
  },
};

/**
 * @param {string} root the package root
 * @param {{ esmBuiltins?: boolean }} [o] `esmBuiltins`: keep the ES module imports of built-ins (the bench's
 *   comparison only)
 * @returns {import('esbuild').BuildOptions}
 */
export function authorizerBuildOptions(root, o = {}) {
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
    plugins: o.esmBuiltins ? [] : [builtinsThroughGetBuiltinModule],
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
