import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'esbuild';
import { DynamoDBClient, GetItemCommand, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LockFile } from '../../src/adapters/local/lock-file.js';
import { createLocalStore } from '../../src/adapters/local/local-store.js';
import { DirectoryBundleSink } from '../../src/adapters/local/directory-bundle-sink.js';
import { guardSink } from '../../src/domain/guarded-store.js';
import { DynamoDbLock, LOCK_KEY } from '../../src/adapters/aws/dynamodb-lock.js';
import { createAwsStore } from '../../src/adapters/aws/aws-store.js';
import { CaError } from '../../src/domain/errors.js';
import type { CertificateRecord, Store, StoreLock } from '../../src/ports.js';
import { REGION, createTable, unique, useMoto } from '../aws/moto-env.js';
import { fakeRecord } from '../helpers/records.js';

interface LockFixture {
  lock: StoreLock;
  /** the store the adapter's factory composes around `lock` */
  store: Store;
  /** another live command holds the lock until the returned function is called */
  holdElsewhere: () => Promise<() => Promise<void>>;
  /** leaves the lock of a command that died */
  abandon: () => Promise<void>;
  /** while we hold the lock, another run takes it over (as after our lease ran out, or a wrong stale guess) */
  steal: () => Promise<void>;
  /** what the refusal's hint says about when the lock frees */
  frees: RegExp;
}

async function caught(p: Promise<unknown>): Promise<CaError> {
  const e = await p.then(
    () => undefined,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(CaError);
  return e as CaError;
}

async function expectConflict(p: Promise<unknown>, pattern = /another ca command/) {
  const e = await caught(p);
  expect(e.code).toBe('conflict');
  expect(e.exitCode).toBe(5);
  expect(e.message).toMatch(pattern);
  return e;
}

/** Polls until `assertHeld` rejects (a lease notices a takeover at its next renewal); bounded. */
async function untilLost(lock: StoreLock): Promise<CaError> {
  for (let i = 0; i < 100; i++) {
    const e = await lock.assertHeld().then(
      () => undefined,
      (x: unknown) => x,
    );
    if (e) return e as CaError;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the lock never noticed it was lost');
}

const record = (): CertificateRecord => {
  const r = fakeRecord();
  return { ...r, clientId: `c-${r.serial.slice(0, 8)}` };
};

/** The StoreLock contract. */
function storeLockContract(name: string, fixture: () => Promise<LockFixture>) {
  describe(`StoreLock contract: ${name}`, () => {
    it('runs the function, is re-entrant, and releases afterwards (also after a failure)', async () => {
      const { lock } = await fixture();
      expect(await lock.withLock(async () => lock.withLock(async () => 42))).toBe(42);
      await expect(lock.withLock(async () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
      expect(await lock.withLock(async () => 'again')).toBe('again');
    });

    it('refuses while another command holds it, and works once that one is done', async () => {
      const f = await fixture();
      const release = await f.holdElsewhere();
      let ran = false;
      await expectConflict(f.lock.withLock(async () => (ran = true)));
      expect(ran).toBe(false);
      await release();
      expect(await f.lock.withLock(async () => 'mine')).toBe('mine');
    });

    it('the refusal says who holds the lock and when it frees', async () => {
      const f = await fixture();
      const release = await f.holdElsewhere();
      try {
        const e = await expectConflict(f.lock.withLock(async () => undefined));
        expect(e.hint).toMatch(f.frees);
      } finally {
        await release();
      }
    });

    it('takes over the lock of a command that died', async () => {
      const f = await fixture();
      await f.abandon();
      expect(await f.lock.withLock(async () => 'taken over')).toBe('taken over');
    });

    it('assertHeld resolves while the lock is held and outside withLock', async () => {
      const { lock } = await fixture();
      await lock.assertHeld();
      await lock.withLock(() => lock.assertHeld());
    });

    it('a lock another run took over: assertHeld refuses (exit 5) and the store writes nothing more', async () => {
      const f = await fixture();
      const rec = record();
      let after = '';
      const e = await caught(
        f.lock.withLock(async () => {
          await f.steal();
          const lost = await untilLost(f.lock);
          expect(lost.code).toBe('conflict');
          expect(lost.message).toMatch(/^lost the lock on .*: another run took it over/);
          expect(lost.hint).toMatch(/re-run the command/);
          // every write of the store checks the lock first
          for (const write of [() => f.store.truststore.sync('unused'), () => f.store.custody.create('root', 'ec-p256')]) {
            expect((await caught(write())).message).toMatch(/^lost the lock/);
          }
          after = 'writing';
          await f.store.registry.commit([{ op: 'create', record: rec }], { atomic: true });
          after = 'written';
        }),
      );
      expect(e.code).toBe('conflict');
      expect(e.message).toMatch(/^lost the lock/);
      expect(after).toBe('writing');
      expect(await f.store.registry.get(rec.serial)).toBeUndefined();
    });
  });
}

/** A live process other than this one, for a lock some other command holds. */
function liveProcess(): ChildProcess {
  return spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
}

describe('local', () => {
  const dirs: string[] = [];
  const children: ChildProcess[] = [];
  const tmp = (prefix = 'ca-lock-') => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    children.forEach((c) => c.kill());
    dirs.forEach((d) => rmSync(d, { recursive: true, force: true }));
  });
  storeLockContract('LockFile', async () => {
    const dir = tmp();
    const lockPath = join(dir, '.lock');
    const store = createLocalStore({ dir, passphrase: async () => 'unused-passphrase' });
    return {
      lock: store.lock,
      store,
      holdElsewhere: async () => {
        const other = liveProcess();
        children.push(other);
        writeFileSync(lockPath, String(other.pid));
        return async () => {
          other.kill();
          rmSync(lockPath, { force: true });
        };
      },
      abandon: async () => {
        const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
        await new Promise((r) => dead.once('exit', r));
        writeFileSync(lockPath, String(dead.pid));
      },
      steal: async () => {
        const other = liveProcess();
        children.push(other);
        writeFileSync(`${lockPath}.theirs`, String(other.pid));
        renameSync(`${lockPath}.theirs`, lockPath);
      },
      frees: /frees when pid \d+ exits/,
    };
  });

  it('a bundle delivery after the lock was lost is refused and writes nothing', async () => {
    const dir = tmp();
    const out = tmp('ca-lock-bundles-');
    const lock = new LockFile(dir);
    const sink = guardSink(new DirectoryBundleSink(out), lock);
    const bundle = { clientId: 'late', serial: '1001', certificatePem: 'unused', chainPem: 'unused' };
    const deliver = async (b: typeof bundle) => {
      const staged = await sink.stage([b]);
      await staged.publish();
      return staged.locations[0]!;
    };
    const e = await caught(
      lock.withLock(async () => {
        expect((await deliver({ ...bundle, clientId: 'early' })).length).toBeGreaterThan(0);
        const other = liveProcess();
        children.push(other);
        writeFileSync(join(dir, '.theirs'), String(other.pid));
        renameSync(join(dir, '.theirs'), join(dir, '.lock'));
        await deliver(bundle);
      }),
    );
    expect(e.message).toMatch(/^lost the lock on /);
    expect(readdirSync(out).filter((f) => f !== '.staged')).toEqual(['early']);
  });

  describe('stale lock takeover across processes', () => {
    let entry: string;
    beforeAll(async () => {
      const dir = tmp('ca-lock-race-');
      entry = join(dir, 'taker.mjs');
      writeFileSync(
        join(dir, 'taker.ts'),
        `import { existsSync } from 'node:fs';
import { LockFile } from ${JSON.stringify(join(import.meta.dirname, '../../src/adapters/local/lock-file.ts'))};
const [dir, go, done] = process.argv.slice(2);
process.stdout.write('ready\\n');
const pause = new Int32Array(new SharedArrayBuffer(4));
while (!existsSync(go)) Atomics.wait(pause, 0, 0, 1);
try {
  await new LockFile(dir).withLock(async () => {
    process.stdout.write('won\\n');
    while (!existsSync(done)) Atomics.wait(pause, 0, 0, 5);
  });
} catch (e) {
  process.stdout.write((e.code ?? 'error') + ': ' + e.message.split('\\n')[0] + '\\n');
}
`,
      );
      await build({ entryPoints: [join(dir, 'taker.ts')], outfile: entry, bundle: true, platform: 'node', format: 'esm', logLevel: 'warning' });
    });

    /** Starts `n` takers of one lock, lets them go at once, and returns each one's verdict. */
    async function race(dir: string, n: number): Promise<string[]> {
      const go = join(dir, 'go');
      const done = join(dir, 'done');
      const takers = Array.from({ length: n }, () => spawn(process.execPath, [entry, join(dir, 'store'), go, done], { stdio: ['ignore', 'pipe', 'inherit'] }));
      children.push(...takers);
      const lines = takers.map((t) => createInterface({ input: t.stdout! })[Symbol.asyncIterator]());
      const deadline = setTimeout(() => takers.forEach((t) => t.kill('SIGKILL')), 20_000);
      try {
        for (const l of lines) expect((await l.next()).value).toBe('ready');
        writeFileSync(go, '');
        const verdicts = await Promise.all(lines.map(async (l) => String((await l.next()).value)));
        writeFileSync(done, '');
        await Promise.all(takers.map((t) => (t.exitCode === null ? new Promise((r) => t.once('exit', r)) : undefined)));
        return verdicts;
      } finally {
        clearTimeout(deadline);
      }
    }

    it('of 8 processes taking over one stale lock at once, exactly one wins (3 rounds)', async () => {
      for (let round = 0; round < 3; round++) {
        const dir = tmp('ca-lock-round-');
        mkdirSync(join(dir, 'store'));
        const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
        await new Promise((r) => dead.once('exit', r));
        writeFileSync(join(dir, 'store', '.lock'), String(dead.pid));
        const verdicts = await race(dir, 8);
        expect(verdicts.filter((v) => v === 'won'), verdicts.join(' | ')).toHaveLength(1);
        expect(verdicts.filter((v) => v !== 'won').every((v) => /^conflict: another ca command \(pid \d+\)/.test(v)), verdicts.join(' | ')).toBe(true);
        // the winner released it, and no claim or temporary file is left
        expect(readdirSync(join(dir, 'store'))).toEqual([]);
      }
    }, 90_000);

    it('a takeover a crash interrupted (its claim left behind) does not block the next one', async () => {
      const dir = tmp();
      const dead = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
      await new Promise((r) => dead.once('exit', r));
      writeFileSync(join(dir, '.lock'), String(dead.pid));
      // what a taker killed between its claim and its rename leaves: its own file, linked as the claim
      const first = new LockFile(dir);
      await first.withLock(async () => undefined);
      expect(readdirSync(dir)).toEqual([]);
      writeFileSync(join(dir, '.lock'), String(dead.pid));
      const st = statSync(join(dir, '.lock'), { bigint: true });
      const claim = `.lock.takeover-${st.dev.toString(36)}-${st.ino.toString(36)}-${st.mtimeNs.toString(36)}.1`;
      writeFileSync(join(dir, claim), String(dead.pid));
      expect(await new LockFile(dir).withLock(async () => readdirSync(dir).sort())).toEqual(['.lock']);
      expect(readdirSync(dir)).toEqual([]);
    });
  });

  describe('a store directory that cannot be written', () => {
    /** Runs `fn` on a tmpfs mounted with `options`; false when this machine does not let the tests mount one. */
    async function onTmpfs(options: string, fn: (dir: string) => Promise<void>): Promise<boolean> {
      const dir = tmp('ca-lock-mnt-');
      try {
        execFileSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir], { stdio: 'ignore' });
      } catch {
        return false;
      }
      try {
        await fn(dir);
      } finally {
        execFileSync('umount', ['-l', dir]);
      }
      return true;
    }
    // Mounting needs root (or CAP_SYS_ADMIN): elsewhere these two tests are skipped, and say so.
    const probe = tmp('ca-lock-probe-');
    let canMount = false;
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', probe], { stdio: 'ignore' });
      execFileSync('umount', ['-l', probe]);
      canMount = true;
    } catch {
      /* not here */
    }

    it.skipIf(!canMount)('on a full disk the lock fails as a storage error and leaves no .lock behind', async () => {
      const mounted = await onTmpfs('size=64k', async (dir) => {
        const store = join(dir, 'pki');
        mkdirSync(store);
        // fill the file system to its last byte
        const fill = join(dir, 'fill');
        writeFileSync(fill, '');
        for (let chunk = 4096; chunk >= 1; chunk = Math.floor(chunk / 2)) {
          try {
            for (let i = 0; i < 64; i++) writeFileSync(fill, Buffer.alloc(chunk), { flag: 'a' });
          } catch (e) {
            expect((e as NodeJS.ErrnoException).code).toBe('ENOSPC');
          }
        }
        let ran = false;
        const e = await caught(new LockFile(store).withLock(async () => (ran = true)));
        expect(ran).toBe(false);
        expect(e.code).toBe('storage');
        expect(e.exitCode).toBe(6);
        expect(e.message).toBe(`failed to take the lock in ${store}: ENOSPC: no space left on device, write`);
        expect(readdirSync(store)).toEqual([]);
        // once there is room again the lock works
        rmSync(fill);
        expect(await new LockFile(store).withLock(async () => 'locked')).toBe('locked');
      });
      expect(mounted).toBe(true);
    });

    it.skipIf(!canMount)('on a read-only store the lock fails as a storage error naming the cause', async () => {
      const mounted = await onTmpfs('ro,size=64k', async (dir) => {
        const e = await caught(new LockFile(dir).withLock(async () => undefined));
        expect(e.code).toBe('storage');
        expect(e.message).toMatch(new RegExp(`^failed to take the lock in ${dir}: EROFS: read-only file system`));
        expect(readdirSync(dir)).toEqual([]);
      });
      expect(mounted).toBe(true);
    });
  });
});

/** A TCP relay to moto on loopback that can refuse connections, for renewals that fail. */
async function relay(target: string) {
  const url = new URL(target);
  const open = new Set<Socket>();
  let refuseNext = 0;
  let down = false;
  const server: Server = createServer((client) => {
    if (down || refuseNext > 0) {
      refuseNext = Math.max(0, refuseNext - 1);
      client.destroy();
      return;
    }
    const upstream = connect(Number(url.port), url.hostname);
    for (const s of [client, upstream]) {
      open.add(s);
      s.on('close', () => open.delete(s));
      s.on('error', () => [client, upstream].forEach((x) => x.destroy()));
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    /** the next `n` connections are dropped as they arrive */
    refuse: (n: number) => (refuseNext = n),
    setDown: (d: boolean) => (down = d),
    close: () => {
      open.forEach((s) => s.destroy());
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  // a short lease, so a takeover is noticed at the next renewal within the test's bounds
  const TEST_TTL_MS = 1500;
  storeLockContract('DynamoDbLock', async () => {
    const tableName = unique('contract-lock');
    await createTable(env.clients.dynamodb, tableName);
    const client = env.clients.dynamodb;
    const store = await createAwsStore({ table: tableName, bucket: unique('unused'), parameterPrefix: `/${unique('ca')}` }, { warn: () => undefined, preflight: false, lockTtlMs: TEST_TTL_MS });
    return {
      lock: store.lock,
      store,
      holdElsewhere: async () => {
        const other = new DynamoDbLock({ client, tableName, owner: 'ci-run-7' });
        let release!: () => void;
        let entered!: () => void;
        const inside = new Promise<void>((r) => (entered = r));
        const held = other.withLock(() => {
          entered();
          return new Promise<void>((r) => (release = r));
        });
        await inside;
        return async () => {
          release();
          await held;
        };
      },
      abandon: async () => {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { pk: { S: LOCK_KEY }, owner: { S: 'crashed-run' }, acquiredAt: { S: '2026-01-01T00:00:00.000Z' }, expiresAt: { N: String(Date.now() - 1000) } },
          }),
        );
      },
      steal: async () => {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: { pk: { S: LOCK_KEY }, owner: { S: 'ci-run-8' }, acquiredAt: { S: new Date().toISOString() }, expiresAt: { N: String(Date.now() + 60_000) } },
          }),
        );
      },
      frees: /^wait for it to finish; if it is no longer running, the lock frees in (60|59) s \(at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\)$/,
    };
  });

  describe('DynamoDbLock lease', () => {
    let tableName: string;
    let link: Awaited<ReturnType<typeof relay>>;
    beforeAll(async () => {
      tableName = unique('lease');
      await createTable(env.clients.dynamodb, tableName);
      link = await relay(env.endpoint);
    });
    afterAll(() => link?.close());
    /** a client that reaches moto through the relay, one connection per request and no SDK retries */
    const relayed = () => new DynamoDBClient({ region: REGION, endpoint: link.endpoint, maxAttempts: 1, requestHandler: { httpAgent: new Agent({ keepAlive: false }) } });
    const lockItem = async () => (await env.clients.dynamodb.send(new GetItemCommand({ TableName: tableName, Key: { pk: { S: LOCK_KEY } }, ConsistentRead: true }))).Item;
    /** our monotonic clock, which a test moves forward to stand for a process that stalled */
    const clock = () => {
      let skipped = 0;
      return { monotonicNow: () => performance.now() + skipped, skip: (ms: number) => (skipped += ms) };
    };

    it('the default lease is 60 s, so a command that died frees the lock within a minute', async () => {
      const lock = new DynamoDbLock({ client: env.clients.dynamodb, tableName });
      await lock.withLock(async () => {
        const item = (await lockItem())!;
        expect(Number(item.expiresAt!.N) - Date.parse(item.acquiredAt!.S!)).toBe(60_000);
      });
      expect(await lockItem()).toBeUndefined();
    });

    it('the lease is renewed while the command runs', async () => {
      const lock = new DynamoDbLock({ client: env.clients.dynamodb, tableName, ttlMs: 800 });
      await lock.withLock(async () => {
        const first = Number((await lockItem())!.expiresAt!.N);
        let later = first;
        for (let i = 0; i < 50 && later === first; i++) {
          await new Promise((r) => setTimeout(r, 100));
          later = Number((await lockItem())!.expiresAt!.N);
        }
        expect(later).toBeGreaterThan(first);
        await lock.assertHeld();
      });
    });

    it('a renewal that fails once is tried again and keeps the lock', async () => {
      const c = clock();
      const lock = new DynamoDbLock({ client: relayed(), tableName, ttlMs: 60_000, monotonicNow: c.monotonicNow });
      await lock.withLock(async () => {
        c.skip(61_000); // our lease ran out by our clock: the next write renews first
        link.refuse(1);
        await lock.assertHeld();
        expect(Number((await lockItem())!.expiresAt!.N)).toBeGreaterThan(Date.now() + 50_000);
      });
    });

    it('a renewal that keeps failing after the lease ran out loses the lock, and says why', async () => {
      const c = clock();
      const lock = new DynamoDbLock({ client: relayed(), tableName, ttlMs: 60_000, monotonicNow: c.monotonicNow });
      let written = false;
      const e = await caught(
        lock.withLock(async () => {
          c.skip(61_000);
          link.setDown(true);
          try {
            await lock.assertHeld();
          } finally {
            link.setDown(false);
          }
          written = true;
        }),
      );
      expect(written).toBe(false);
      expect(e.code).toBe('conflict');
      expect(e.message).toMatch(new RegExp(`^lost the lock on DynamoDB table ${tableName}: renewal failed \\(.+\\) and the lease ran out$`));
      expect(e.hint).toBe('re-run the command');
    });

    it('after a stall past its lease a lock nobody took is renewed and kept', async () => {
      const c = clock();
      const lock = new DynamoDbLock({ client: env.clients.dynamodb, tableName, monotonicNow: c.monotonicNow });
      await lock.withLock(async () => {
        c.skip(120_000);
        await lock.assertHeld();
        await lock.assertHeld();
      });
    });

    it('after a stall past its lease, a lock another run took over is lost and left to that run', async () => {
      const c = clock();
      const lock = new DynamoDbLock({ client: env.clients.dynamodb, tableName, monotonicNow: c.monotonicNow, owner: 'stalled-run' });
      // the other run's clock is two minutes on: to it our lease has expired
      const other = new DynamoDbLock({ client: env.clients.dynamodb, tableName, owner: 'next-run', now: () => Date.now() + 120_000 });
      let release!: () => void;
      let otherHeld!: Promise<void>;
      const e = await caught(
        lock.withLock(async () => {
          c.skip(120_000);
          let entered!: () => void;
          const inside = new Promise<void>((r) => (entered = r));
          otherHeld = other.withLock(() => {
            entered();
            return new Promise<void>((r) => (release = r));
          });
          await inside;
          await lock.assertHeld();
        }),
      );
      expect(e.message).toMatch(/^lost the lock on DynamoDB table .*: another run took it over/);
      // our release left the other run's lease alone
      expect((await lockItem())!.owner!.S).toBe('next-run');
      release();
      await otherHeld;
      expect(await lockItem()).toBeUndefined();
    });
  });
});
