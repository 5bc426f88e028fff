/**
 * Loads a token mode's verifier with `import()`: in the bundle, esbuild keeps ./token-verifier.ts (and jose)
 * behind a lazy initialiser, so the `mtls` mode never evaluates them. Shared by the Lambda and the local gateway.
 */
import { performance } from 'node:perf_hooks';
import type { Clock } from '../ports.js';
import type { TokenVerifier } from './token.js';
import type { HmacSecretPair, TokenSettings } from './token-verifier.js';

export interface TokenSources {
  /** the key set document: our TOKEN#JWKS item or file (mtls+token), else read from `jwksUrl` */
  keySet?: () => Promise<unknown>;
  /** jwt-jwks, spiffe-jwt-svid: the key set's URL, read with a bounded GET when `keySet` is not given */
  jwksUrl?: string;
  /** jwt-hs256 */
  secrets?: () => Promise<HmacSecretPair>;
  clock?: Clock;
  monotonic?: () => number;
  /** bound on one key set read */
  fetchTimeoutMs?: number;
  /**
   * Loading waits for this first (never failing): the Lambda passes its registry connection's start, so jose's
   * evaluation and the first key set read run while the TLS handshake is under way, not before its first packet.
   */
  after?: Promise<void>;
}

/** The verifier of `settings`' mode. Rejects only when the module cannot be loaded or the URL is unusable. */
export async function loadTokenVerifier(settings: TokenSettings, o: TokenSources): Promise<TokenVerifier> {
  if (o.after) await o.after;
  const m = await import('./token-verifier.js');
  const keySet = o.keySet ?? (o.jwksUrl ? m.remoteKeySet(o.jwksUrl, o.fetchTimeoutMs ?? 3_000) : undefined);
  return m.createTokenVerifier(settings, {
    ...(keySet ? { keySet } : {}),
    ...(o.secrets ? { secrets: o.secrets } : {}),
    clock: o.clock ?? { now: () => new Date() },
    monotonic: o.monotonic ?? (() => performance.now()),
  });
}
