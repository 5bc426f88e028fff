import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { packageRoot } from '../package-root.js';
import { authorizerBuildOptions, tokenBuildOptions } from './esbuild-options.mjs';
import { writeZip } from './zip.js';
import type { AuthorizerMode } from './token.js';

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

/** What each authorizer mode needs in the function's environment beside CA_AUTHORIZER_MODE (src/lambda/README.md). */
export const MODE_ENVIRONMENT: Record<AuthorizerMode, readonly string[]> = {
  mtls: ['CA_TABLE'],
  'mtls+token': ['CA_TABLE', 'CA_TOKEN_ISSUER', 'CA_TOKEN_AUDIENCE'],
  'jwt-hs256': ['CA_JWT_SECRET_ARN or CA_JWT_SECRET_PARAMETER', 'CA_JWT_ISSUER', 'CA_JWT_AUDIENCE'],
  'jwt-jwks': ['CA_JWKS_URL', 'CA_JWT_ISSUER', 'CA_JWT_AUDIENCE'],
  'spiffe-jwt-svid': ['CA_JWKS_URL', 'CA_JWT_AUDIENCE', 'CA_SPIFFE_TRUST_DOMAIN'],
};

/** The API Gateway settings a deployment of the bundle must use with a given CA_RESPONSE_MODE and authorizer mode. */
export interface AuthorizerDeploySettings {
  responseMode: ResponseMode;
  /** what the authorizer checks (CA_AUTHORIZER_MODE) */
  mode: AuthorizerMode;
  /**
   * the function's environment for these modes (CA_TABLE and the mode's own variables come from the deployment).
   * In the modes whose only TLS peer is DynamoDB (`mtls`, `mtls+token`), NODE_OPTIONS and SSL_CERT_FILE spare the
   * cold start Node's bundled root store (~140 certificates parsed on the first TLS context, `ca` or not): with
   * `--use-openssl-ca` the process-wide store is OpenSSL's, read from SSL_CERT_FILE, here nothing, and the registry
   * connection trusts exactly its own `ca` (CA_REGISTRY_TLS_ROOTS, src/lambda/README.md). The bearer-only modes
   * reach other hosts (a remote key set, Secrets Manager through Node's https) and keep the default store.
   */
  environment: { CA_RESPONSE_MODE: ResponseMode; CA_AUTHORIZER_MODE: AuthorizerMode; NODE_OPTIONS?: '--use-openssl-ca'; SSL_CERT_FILE?: '/dev/null' };
  /** the variables the deployment must also set for this mode */
  requiredEnvironment: string[];
  /**
   * HTTP API authorizer: `enableSimpleResponses` must match the mode (a simple answer to an authorizer without it,
   * or a policy to one with it, is a 500 for every request); result caching off (README: why the cache stays off).
   */
  httpApi: { authorizerType: 'REQUEST'; enableSimpleResponses: boolean; authorizerResultTtlInSeconds: 0 };
  /** REST API authorizer: always a policy; `authorizerResultTtlInSeconds` defaults to 300 there and must be 0 */
  restApi: { type: 'REQUEST'; authorizerResultTtlInSeconds: 0 };
}

/** The settings for a response mode and an authorizer mode: one value the deployment wires into both the function and the API. */
export function authorizerDeploySettings(responseMode: ResponseMode = 'iam', mode: AuthorizerMode = 'mtls'): AuthorizerDeploySettings {
  return {
    responseMode,
    mode,
    environment: {
      CA_RESPONSE_MODE: responseMode,
      CA_AUTHORIZER_MODE: mode,
      ...(mode === 'mtls' || mode === 'mtls+token' ? { NODE_OPTIONS: '--use-openssl-ca' as const, SSL_CERT_FILE: '/dev/null' as const } : {}),
    },
    requiredEnvironment: [...MODE_ENVIRONMENT[mode]],
    httpApi: { authorizerType: 'REQUEST', enableSimpleResponses: responseMode === 'simple', authorizerResultTtlInSeconds: 0 },
    restApi: { type: 'REQUEST', authorizerResultTtlInSeconds: 0 },
  };
}

/** The token endpoint's prebuilt bundle in a published package. */
// its own directory: the authorizer's (dist/lambda/) is deployed whole as the authorizer's code asset
export const PREBUILT_TOKEN = 'dist/lambda-token/index.mjs';

/** Bundles src/lambda/token-handler.ts as bundleAuthorizer does the authorizer. */
export async function bundleToken(root = packageRoot()): Promise<Uint8Array> {
  const entry = join(root, 'src/lambda/token-handler.ts');
  if (!existsSync(entry)) {
    const prebuilt = join(root, PREBUILT_TOKEN);
    if (existsSync(prebuilt)) return readFileSync(prebuilt);
    throw new Error(`failed to find the token handler source (${entry}) or a prebuilt bundle (${prebuilt})`);
  }
  const { build } = await import('esbuild');
  const out = await build({ ...tokenBuildOptions(root), write: false });
  return out.outputFiles[0]!.contents;
}

/** Builds the token endpoint's Lambda zip: `index.mjs` at its root, handler `index.handler`. Prints nothing. */
export async function buildTokenBundle(o: { outDir: string }): Promise<{ zipPath: string; bundleBytes: number; zipBytes: number }> {
  const code = await bundleToken();
  const zip = writeZip([{ name: 'index.mjs', data: code, mode: 0o644 }]);
  const outDir = resolve(o.outDir);
  mkdirSync(outDir, { recursive: true });
  const zipPath = join(outDir, 'token.zip');
  writeFileSync(zipPath, zip);
  return { zipPath, bundleBytes: code.length, zipBytes: zip.length };
}
