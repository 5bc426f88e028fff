import type { BuildOptions, Plugin } from 'esbuild';
/** Static imports of `node:` built-ins become `process.getBuiltinModule` calls (measured reason in the .mjs). */
export declare const builtinsThroughGetBuiltinModule: Plugin;
/** The authorizer bundle's esbuild options for the package at `root` (`esmBuiltins`: the bench's comparison build). */
export declare function authorizerBuildOptions(root: string, o?: { esmBuiltins?: boolean }): BuildOptions;
/** The token endpoint bundle's esbuild options for the package at `root`. */
export declare function tokenBuildOptions(root: string): BuildOptions;
