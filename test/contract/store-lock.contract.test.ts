import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { LockFile } from '../../src/adapters/local/lock-file.js';
import { DynamoDbLock, LOCK_KEY } from '../../src/adapters/aws/dynamodb-lock.js';
import { CaError } from '../../src/domain/errors.js';
import type { StoreLock } from '../../src/ports.js';
import { createTable, unique, useMoto } from '../aws/moto-env.js';

interface LockFixture {
  lock: StoreLock;
  /** another live command holds the lock until the returned function is called */
  holdElsewhere: () => Promise<() => Promise<void>>;
  /** leaves the lock of a command that died */
  abandon: () => Promise<void>;
}

async function expectConflict(p: Promise<unknown>) {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(CaError);
  expect((e as CaError).code).toBe('conflict');
  expect((e as CaError).message).toMatch(/another ca command/);
}

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

    it('takes over the lock of a command that died', async () => {
      const f = await fixture();
      await f.abandon();
      expect(await f.lock.withLock(async () => 'taken over')).toBe('taken over');
    });
  });
}

describe('local', () => {
  const dirs: string[] = [];
  afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
  storeLockContract('LockFile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ca-lock-'));
    dirs.push(dir);
    const lockPath = join(dir, '.lock');
    return {
      lock: new LockFile(dir),
      holdElsewhere: async () => {
        const other = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
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
    };
  });
});

describe('aws', () => {
  let env: ReturnType<typeof useMoto>;
  beforeAll(() => {
    env = useMoto();
  });
  storeLockContract('DynamoDbLock', async () => {
    const tableName = unique('contract-lock');
    await createTable(env.clients.dynamodb, tableName);
    const client = env.clients.dynamodb;
    return {
      lock: new DynamoDbLock({ client, tableName }),
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
    };
  });
});
