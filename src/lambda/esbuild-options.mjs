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
    // The SDK is bundled, not taken from the runtime: the runtime's copy changes version without notice, and
    // the zip must run with nothing outside it. ESM builds of the SDK tree-shake better than CommonJS ones.
    mainFields: ['module', 'main'],
    // CommonJS dependencies call require() on Node built-ins, which an ES module does not have.
    banner: { js: "import{createRequire as __cr}from'node:module';const require=__cr(import.meta.url);" },
    legalComments: 'none',
    logLevel: 'silent',
  };
}
