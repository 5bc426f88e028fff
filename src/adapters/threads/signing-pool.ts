import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../package-root.js';
import { Worker } from 'node:worker_threads';
import type { KeyObject } from 'node:crypto';
import type { KeyType, SigningItem, SigningPool, SigningResult } from '../../ports.js';

/** The built worker script, found from the package root whether this code runs from src/ or dist/. */
export function signingWorkerPath(): string {
  return join(packageRoot(), 'dist', 'signing-worker.cjs');
}

/**
 * Worker threads that sign client certificates. The CA key reaches them as a KeyObject over postMessage: it
 * stays in this process's memory and is never serialised to disk. Threads start on first use; the owner
 * closes the pool when its command ends.
 */
export class WorkerSigningPool implements SigningPool {
  private workers?: Worker[];
  private next = 0;
  private readonly pending = new Map<number, { resolve: (r: SigningResult[]) => void; reject: (e: Error) => void }>();

  constructor(
    readonly size = Math.max(1, availableParallelism()),
    private readonly workerPath = signingWorkerPath(),
  ) {}

  private start(): Worker[] {
    return (this.workers ??= Array.from({ length: this.size }, () => {
      const w = new Worker(this.workerPath);
      w.on('message', (m: { id: number; results?: SigningResult[]; error?: string }) => {
        const p = this.pending.get(m.id);
        this.pending.delete(m.id);
        if (m.error !== undefined) p?.reject(new Error(`signing worker failed: ${m.error}`));
        else p?.resolve(m.results!);
      });
      w.on('error', (e) => {
        for (const p of this.pending.values()) p.reject(e);
        this.pending.clear();
      });
      return w;
    }));
  }

  /** Splits the items into one slice per thread, signs them in parallel, returns results in input order. */
  async sign(issuerCertificateDer: Uint8Array, key: KeyObject, keyType: KeyType, items: SigningItem[]): Promise<SigningResult[]> {
    const workers = this.start();
    const per = Math.ceil(items.length / this.size);
    const slices: Promise<SigningResult[]>[] = [];
    for (let i = 0; i < items.length; i += per) {
      const id = this.next++;
      const worker = workers[slices.length % this.size]!;
      slices.push(
        new Promise<SigningResult[]>((resolve, reject) => {
          this.pending.set(id, { resolve, reject });
          worker.postMessage({ id, issuerCertificateDer, key, keyType, items: items.slice(i, i + per) });
        }),
      );
    }
    return (await Promise.all(slices)).flat();
  }

  async close(): Promise<void> {
    const w = this.workers;
    this.workers = undefined;
    await Promise.all((w ?? []).map((x) => x.terminate()));
  }
}
