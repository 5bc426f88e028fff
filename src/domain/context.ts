import type { BundleSink, Clock, SigningPool, Store } from '../ports.js';
import type { CaPolicy } from './policy.js';
import type { AuditRecorder } from './audited-store.js';

/** Reports progress of long work; the CLI draws a bar on a terminal, nothing otherwise. */
export type Progress = (done: number, total: number) => void;

/** What every operation is given by the composition root. */
export interface OperationContext {
  store: Store;
  clock: Clock;
  policy: CaPolicy;
  /** where client bundles go; required by operations that issue */
  sink?: BundleSink;
  progress?: Progress;
  /** other cores for batch signing, when the composition root provides them */
  pool?: SigningPool;
  /** warnings for the user (stderr) */
  warn?: (message: string) => void;
  /**
   * Clients re-issued per chunk by rotation and `renew --all` (default 992, see reissueClients). The CLI takes
   * it from the undocumented CA_REISSUE_CHUNK so that crash tests make a small population span several chunks.
   */
  chunkSize?: number;
  /** records a write the store does not see (registry commits and truststore publications are recorded already) */
  audit?: AuditRecorder;
}

export const systemClock: Clock = { now: () => new Date() };

export function fixedClock(at: Date | string): Clock {
  const d = new Date(at);
  return { now: () => new Date(d) };
}
