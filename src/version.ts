import pkg from '../package.json' with { type: 'json' };

/** This package's version: what `ca --version` prints and what the store files it writes record. */
export const CA_VERSION: string = pkg.version;
