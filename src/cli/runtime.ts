import type { Command } from 'commander';
import type { BundleSink, Store } from '../ports.js';
import { systemClock, type OperationContext } from '../domain/context.js';
import { usageError } from '../domain/errors.js';
import { guardSink } from '../domain/guarded-store.js';
import { newRunId, redactCommandLine } from '../domain/audit.js';
import { auditStore, type AuditRecorder } from '../domain/audited-store.js';
import { CA_VERSION } from '../version.js';
import { resolveConfig, type EnvSettings, type ResolvedConfig } from './config.js';
import { cleanups, globals, output, readSecretFile } from './shared.js';
import { askSecret } from './prompts.js';
import { progressBar } from './progress.js';
import { DirectoryBundleSink } from '../adapters/local/directory-bundle-sink.js';
import { createLocalStore } from '../adapters/local/local-store.js';
import { MIN_PASSPHRASE } from '../adapters/local/file-key-custody.js';

export function warn(message: string): void {
  process.stderr.write(`warning: ${message}\n`);
}

export function info(message: string): void {
  process.stderr.write(`${message}\n`);
}

export interface RuntimeOptions {
  /** flags of this command that override settings (e.g. --org, --key-type) */
  settings?: Partial<EnvSettings>;
  /** where bundles go: a directory (default) or SSM */
  deliver?: 'files' | 'ssm';
  /** --out: bundle directory */
  out?: string;
  /** --strict: API Gateway truststore warnings fail the command */
  strict?: boolean;
  /** --no-passphrase --insecure: CA keys written unencrypted */
  plaintextKeys?: boolean;
  /** a progress bar label, for long work */
  progress?: string;
  /** the command publishes the truststore: check the bucket up front and say when no domain is configured */
  publishes?: boolean;
  /** batch work: sign on worker threads when there is more than one core */
  parallel?: boolean;
  /**
   * How this run's profile settings meet the CA's recorded profile: `check` refuses a disagreeing setting
   * (unless --update-profile, which records it), `read` uses the recorded profile (read-only commands),
   * `replace` takes this run's settings (bootstrap --force). Default `check`.
   */
  profile?: 'check' | 'read' | 'replace';
  /** the command changes nothing (--dry-run): a profile change is checked but not recorded */
  dryRun?: boolean;
}

export interface Runtime {
  config: ResolvedConfig;
  store: Store;
  ctx: OperationContext;
  json: boolean;
  /** records a write the store does not see in the audit trail (registry commits and publications need no call) */
  audit: AuditRecorder;
  done(): void;
}

/** The command as its user names it: `issue-client`, `truststore publish`. */
export function operationName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c?.parent; c = c.parent) names.unshift(c.name());
  return names.join(' ');
}

/** The long and short names of every option of this command (and its parents) that takes a value. */
function valuedOptions(cmd: Command): Set<string> {
  const out = new Set<string>();
  for (let c: Command | null = cmd; c; c = c.parent) {
    for (const o of c.options) {
      if (!o.required && !o.optional) continue;
      if (o.long) out.add(o.long);
      if (o.short) out.add(o.short);
    }
  }
  return out;
}

/** Resolves configuration and builds the operation context: the CLI's composition root. */
export async function openRuntime(cmd: Command, o: RuntimeOptions = {}): Promise<Runtime> {
  const g = globals(cmd);
  const config = resolveConfig({ config: g.config, env: g.env, store: g.store as EnvSettings['store'], dir: g.dir, ...o.settings });
  // every write through this store is recorded in its audit trail, the command line without its secrets
  const { store, recorder } = auditStore(await openStore(config, o, g.passphraseFile), {
    operation: operationName(cmd),
    command: ['ca', ...redactCommandLine(process.argv.slice(2), valuedOptions(cmd))],
    run: newRunId(),
    version: CA_VERSION,
    clock: systemClock,
  });
  let sink: BundleSink;
  if (o.deliver === 'ssm') {
    if (config.store !== 'aws') throw usageError('--deliver ssm needs the aws store', 'set "store": "aws" in ca.config.json or CA_STORE=aws');
    const aws = await import('../adapters/aws/aws-store.js');
    sink = aws.createSsmBundleSink(config.aws, { warn });
  } else {
    sink = new DirectoryBundleSink(o.out ?? config.bundleDir);
  }
  // deliveries are writes too: a command that lost the store's lock stops before its next one
  sink = guardSink(sink, store.lock);
  const bar = o.progress ? progressBar(o.progress) : undefined;
  const pool = o.parallel ? await signingPool() : undefined;
  const policy = await effectivePolicy(store, config, o, !!g.updateProfile);
  const ctx: OperationContext = { store, clock: systemClock, policy, sink, progress: bar, warn, pool, chunkSize: reissueChunk(), audit: recorder };
  return {
    config,
    store,
    ctx,
    json: !!g.json,
    audit: recorder,
    done: () => bar?.end(),
  };
}

/** The policy this run issues with: the store's recorded CA profile, reconciled with this run's settings. */
async function effectivePolicy(store: Store, config: ResolvedConfig, o: RuntimeOptions, update: boolean) {
  const mode = o.profile ?? 'check';
  if (mode === 'replace') return config.policy;
  const { loadProfile } = await import('../domain/profile.js');
  const record = mode === 'check' && !o.dryRun;
  const opts = { update, keep: mode === 'read' };
  let r = await loadProfile(store.registry, config.requested, opts);
  // the lock is taken only when there is something to record (a change, or an older CA's first full profile)
  if (record && r.root && (r.changes.length || r.unrecorded)) r = await store.lock.withLock(() => loadProfile(store.registry, config.requested, { ...opts, record }));
  for (const c of r.changes) {
    if (record) info(`recorded the CA profile change: ${c.key} ${JSON.stringify(c.from ?? null)} -> ${JSON.stringify(c.to ?? null)}`);
  }
  return r.profile;
}

/**
 * CA_REISSUE_CHUNK, undocumented on purpose: the crash tests (test/e2e/crash.test.ts) make a population of a few
 * hundred clients span several re-issue chunks with it, so that kills land between chunks. Users keep the default.
 */
function reissueChunk(): number | undefined {
  const v = process.env.CA_REISSUE_CHUNK;
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw usageError(`CA_REISSUE_CHUNK must be a positive integer, not ${JSON.stringify(v)}`, 'unset it');
  return n;
}

async function signingPool() {
  const { availableParallelism } = await import('node:os');
  if (availableParallelism() < 2) return undefined;
  const { WorkerSigningPool } = await import('../adapters/threads/signing-pool.js');
  const pool = new WorkerSigningPool();
  cleanups.push(() => pool.close());
  return pool;
}

async function openStore(config: ResolvedConfig, o: RuntimeOptions, passphraseFile?: string): Promise<Store> {
  if (config.store === 'aws') {
    // The SDK warns, over eight lines, that releases after January 2027 need Node 22; the lockfile pins ours.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    const aws = await import('../adapters/aws/aws-store.js');
    if (o.publishes && !config.aws.domains?.length) {
      warn('no API Gateway domains configured (aws.domains / CA_AWS_DOMAINS): a new truststore version reaches S3, but no domain is pointed at it');
    }
    // Only commands that publish need the bucket; an emergency revoke must not wait on a bucket problem.
    return aws.createAwsStore(config.aws, { warn, strict: o.strict, preflight: !!o.publishes, retentionDays: config.retentionDays });
  }
  return createLocalStore({
    dir: config.dir,
    plaintextKeys: o.plaintextKeys,
    passphrase: passphraseSource(passphraseFile),
  });
}

/** Where the local store's key passphrase comes from: --passphrase-file, CA_PASSPHRASE, else a prompt. */
export function passphraseSource(passphraseFile?: string) {
  return async ({ confirm }: { confirm: boolean }): Promise<string> =>
    passphraseFile
      ? readSecretFile(passphraseFile, 'passphrase')
      : (process.env.CA_PASSPHRASE ??
        askSecret(confirm ? 'New CA key passphrase' : 'CA key passphrase', 'CA_PASSPHRASE or --passphrase-file', {
          confirm,
          // the custody refuses a short new passphrase; on a terminal it is asked again instead
          validate: (p) => (confirm && p.length < MIN_PASSPHRASE ? `the CA passphrase must be at least ${MIN_PASSPHRASE} characters` : undefined),
        }));
}

/** The store's token signing keys (custody and published key set), for `ca token-key` and `ca gateway`. */
export async function openTokenKeys(rt: Runtime, cmd: Command): Promise<import('../domain/token-keys.js').TokenKeys> {
  if (rt.config.store === 'aws') {
    const aws = await import('../adapters/aws/aws-store.js');
    return aws.createAwsTokenKeys(rt.config.aws);
  }
  const { FileTokenKeyCustody, FileTokenKeySet } = await import('../adapters/local/file-token-keys.js');
  return { custody: new FileTokenKeyCustody(rt.config.dir, passphraseSource(globals(cmd).passphraseFile)), set: new FileTokenKeySet(rt.config.dir) };
}

/** Prints a result: one JSON document with --json, else the human rendering. Both on stdout. */
export function emit<T>(rt: { json: boolean }, result: T, human: (r: T) => string): void {
  output.emitted = true;
  if (rt.json) process.stdout.write(JSON.stringify(result, null, 2) + '\n');
  else {
    const text = human(result);
    if (text) process.stdout.write(text.endsWith('\n') ? text : text + '\n');
  }
}
