import type { BuildOptions } from 'esbuild';
/** The authorizer bundle's esbuild options for the package at `root`. */
export declare function authorizerBuildOptions(root: string): BuildOptions;
/** The token endpoint bundle's esbuild options for the package at `root`. */
export declare function tokenBuildOptions(root: string): BuildOptions;
