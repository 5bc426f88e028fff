import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import type { TruststorePublisher, TruststoreState } from '../../ports.js';
import { sameTruststore } from '../../domain/truststore.js';
import { writeFileAtomic } from './files.js';

/**
 * `truststore.pem` plus every published version kept as `truststore-versions/<n>.pem`, like a versioned S3
 * object: the newest version is the truth, `truststore.pem` a copy that `sync` repairs after a crash.
 */
export class FileTruststore implements TruststorePublisher {
  readonly path: string;
  private readonly versionsDir: string;

  constructor(dir: string) {
    this.path = join(dir, 'truststore.pem');
    this.versionsDir = join(dir, 'truststore-versions');
  }

  private latest(): number {
    if (!existsSync(this.versionsDir)) return 0;
    return Math.max(0, ...readdirSync(this.versionsDir).map((f) => /^(\d+)\.pem$/.exec(f)?.[1]).filter(Boolean).map(Number));
  }

  async current(): Promise<TruststoreState | undefined> {
    const n = this.latest();
    if (!n) return undefined;
    return { pem: readFileSync(join(this.versionsDir, `${n}.pem`), 'utf8'), version: String(n) };
  }

  /** truststore.pem is the copy people and `ca gateway` read: it must be the newest version, byte for byte. */
  async drift(): Promise<string[]> {
    const cur = await this.current();
    if (!cur) return [];
    if (!existsSync(this.path)) return [`${this.path} is missing (the latest version is ${cur.version})`];
    const served = readFileSync(this.path, 'utf8');
    if (served === cur.pem) return [];
    const digest = (t: string) => createHash('sha256').update(t).digest('hex').slice(0, 16);
    return [`${this.path} (sha256 ${digest(served)}…) differs from the latest published version ${cur.version} (sha256 ${digest(cur.pem)}…)`];
  }

  async sync(pem: string) {
    const cur = await this.current();
    let state: TruststoreState;
    let changed = false;
    if (cur && sameTruststore(cur.pem, pem)) {
      state = cur;
    } else {
      const n = this.latest() + 1;
      writeFileAtomic(join(this.versionsDir, `${n}.pem`), pem);
      state = { pem, version: String(n) };
      changed = true;
    }
    if (!existsSync(this.path) || readFileSync(this.path, 'utf8') !== state.pem) writeFileAtomic(this.path, state.pem);
    return { state, changed, warnings: [] };
  }
}
