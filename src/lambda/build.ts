import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../package-root.js';
import { authorizerBuildOptions } from './esbuild-options.mjs';
import { writeZip } from './zip.js';

/** The file a published package ships, built by the package build with authorizerBuildOptions. */
export const PREBUILT_AUTHORIZER = 'dist/lambda/index.mjs';

/**
 * Bundles src/lambda/handler.ts into one minified ESM file for Lambda's nodejs22.x runtime, dependencies included
 * (see esbuild-options.mjs); an installed package, which has no sources or esbuild, uses its prebuilt copy.
 */
/** `root`: the package root, holding src/ (development) or dist/ (installed). */
export async function bundleAuthorizer(root = packageRoot()): Promise<Uint8Array> {
  const entry = join(root, 'src/lambda/handler.ts');
  if (!existsSync(entry)) {
    const prebuilt = join(root, PREBUILT_AUTHORIZER);
    if (existsSync(prebuilt)) return readFileSync(prebuilt);
    throw new Error(`failed to find the authorizer source (${entry}) or a prebuilt bundle (${prebuilt})`);
  }
  const { build } = await import('esbuild');
  const out = await build({ ...authorizerBuildOptions(root), write: false });
  return out.outputFiles[0]!.contents;
}

/** Builds the authorizer Lambda zip: `index.mjs` at its root, handler `index.handler`. Prints nothing. */
export async function buildAuthorizerBundle(o: { outDir: string }): Promise<{ zipPath: string; bundleBytes: number; zipBytes: number }> {
  const code = await bundleAuthorizer();
  const zip = writeZip([{ name: 'index.mjs', data: code, mode: 0o644 }]);
  const outDir = resolve(o.outDir);
  mkdirSync(outDir, { recursive: true });
  const zipPath = join(outDir, 'authorizer.zip');
  writeFileSync(zipPath, zip);
  return { zipPath, bundleBytes: code.length, zipBytes: zip.length };
}

/** How the authorizer answers HTTP API payload 2.0 events (CA_RESPONSE_MODE); v1 and REST always get a policy. */
export type ResponseMode = 'iam' | 'simple';

/** The API Gateway settings a deployment of the bundle must use with a given CA_RESPONSE_MODE. */
export interface AuthorizerDeploySettings {
  responseMode: ResponseMode;
  /**
   * the function's environment for that mode (CA_TABLE comes from the deployment). NODE_OPTIONS and SSL_CERT_FILE
   * spare the cold start Node's bundled root store (~140 certificates parsed on the first TLS context, `ca` or
   * not): with `--use-openssl-ca` the process-wide store is OpenSSL's, read from SSL_CERT_FILE, here nothing. The
   * registry connection trusts exactly its own `ca` either way (CA_REGISTRY_TLS_ROOTS, src/lambda/README.md).
   */
  environment: { CA_RESPONSE_MODE: ResponseMode; NODE_OPTIONS: '--use-openssl-ca'; SSL_CERT_FILE: '/dev/null' };
  /**
   * HTTP API authorizer: `enableSimpleResponses` must match the mode (a simple answer to an authorizer without it,
   * or a policy to one with it, is a 500 for every request); result caching off (README: why the cache stays off).
   */
  httpApi: { authorizerType: 'REQUEST'; enableSimpleResponses: boolean; authorizerResultTtlInSeconds: 0 };
  /** REST API authorizer: always a policy; `authorizerResultTtlInSeconds` defaults to 300 there and must be 0 */
  restApi: { type: 'REQUEST'; authorizerResultTtlInSeconds: 0 };
}

/** The settings for a response mode: one value the deployment wires into both the function and the API. */
export function authorizerDeploySettings(responseMode: ResponseMode = 'iam'): AuthorizerDeploySettings {
  return {
    responseMode,
    environment: { CA_RESPONSE_MODE: responseMode, NODE_OPTIONS: '--use-openssl-ca', SSL_CERT_FILE: '/dev/null' },
    httpApi: { authorizerType: 'REQUEST', enableSimpleResponses: responseMode === 'simple', authorizerResultTtlInSeconds: 0 },
    restApi: { type: 'REQUEST', authorizerResultTtlInSeconds: 0 },
  };
}
