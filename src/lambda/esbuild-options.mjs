// The authorizer bundle's esbuild options, shared by src/lambda/build.ts (`ca authorizer build` in a checkout)
// and the package build (which prebuilds dist/lambda/index.mjs, since esbuild is not installed with the CLI).

/**
 * Node's built-in modules reach the bundle through `process.getBuiltinModule` (Node >= 20.16 and 22.3; the Lambda
 * runtime is nodejs22.x, the CLI needs 20.19), not as ES module imports. Measured reason: importing a built-in as an
 * ES module builds its module namespace from every export, running each lazy getter, so `node:crypto` loads
 * WebCrypto, `node:tls` copies Node's bundled root certificates into strings and `node:net` loads BlockList and
 * SocketAddress, none of which the authorizer uses (4 modules fewer at its cold start). Each built-in becomes a
 * small ES module of named exports read once from `process.getBuiltinModule`, of which esbuild keeps the names
 * imported: a CommonJS shim (`module.exports = …`) measured worse, since esbuild's interop wrapper copies every
 * export as a getter and reads it through that getter on each call. On the bench VM, medians of 100 alternating
 * cold processes each, in-process timing, same bundle otherwise: import 12.3 ms against 14.1 ms with ES module
 * imports (13.6 ms with the CommonJS shim), import and first decision 20.3 against 22.1 ms. The bench rows
 * "built-ins through process.getBuiltinModule vs ES module imports" keep measuring both. Only static imports of
 * `node:` ids are rewritten; an `import()` of one stays as it is.
 * @type {import('esbuild').Plugin}
 */
export const builtinsThroughGetBuiltinModule = {
  name: 'builtins-through-getBuiltinModule',
  setup(b) {
    b.onResolve({ filter: /^node:/ }, (a) => (a.kind === 'import-statement' ? { path: a.path, namespace: 'node-builtin' } : undefined));
    // an ES module of named exports (the build's own Node lists them), each read once: the bundle keeps only those
    // imported, and no CommonJS interop wrapper copies every export of the module at cold start
    b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (a) => {
      const names = Object.keys(process.getBuiltinModule(a.path)).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n) && n !== 'default');
      const m = `__builtin_${a.path.replace(/\W/g, '_')}`;
      const exports = names.map((n) => `export const ${n} = /* @__PURE__ */ (() => ${m}.${n})();`).join('\n');
      return { contents: `const ${m} = /* @__PURE__ */ process.getBuiltinModule(${JSON.stringify(a.path)});\nexport default ${m};\n${exports}\n`, loader: 'js' };
    });
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
