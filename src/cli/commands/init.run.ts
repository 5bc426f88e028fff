import type { Command } from 'commander';
import { existsSync, readFileSync, readdirSync, mkdirSync, copyFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { packageRoot } from '../../package-root.js';
import { parseDomainSpec } from '../../adapters/aws/domain-spec.js';
import { conflict, usageError } from '../../domain/errors.js';
import { parseKeyType } from '../../domain/keys.js';
import { validateTrustDomain } from '../../domain/policy.js';
import { CONFIG_FILE, type ConfigFile, type EnvSettings } from '../config.js';
import { askChoice, askText, interactive } from '../prompts.js';
import { emit } from '../runtime.js';
import { globals } from '../shared.js';
import { writeFileAtomic } from '../../adapters/local/files.js';

export async function runInit(o: Record<string, any>, cmd: Command): Promise<void> {
  const g = globals(cmd);
  const path = resolve(g.config ?? CONFIG_FILE);
  const doc: ConfigFile = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
  const envName = g.env ?? (interactive() ? await askText('Environment name', 'sandbox') : 'sandbox');
  if (doc.environments?.[envName] && !o.force) throw conflict(`environment ${envName} already exists in ${path}`, 'use --force to overwrite it');
  const ask = async (v: string | undefined, q: string, d?: string) => v ?? (interactive() ? await askText(q, d) : d);
  const store = (g.store ?? (interactive() ? await askChoice('Store', ['local', 'aws'], 'local') : 'local')) as 'local' | 'aws';
  if (store !== 'local' && store !== 'aws') throw usageError(`unknown store ${store}`, 'use local or aws');
  const env: EnvSettings = { store };
  const org = await ask(o.org, 'Organization (O=)', doc.organization);
  if (org) env.organization = org;
  const caName = await ask(o.caName, 'CA name', doc.caName);
  if (caName) env.caName = caName;
  if (o.keyType) env.clientKeyType = parseKeyType(o.keyType);
  if (o.spiffeTrustDomain) env.spiffeTrustDomain = validateTrustDomain(o.spiffeTrustDomain);
  if (store === 'local') {
    env.dir = g.dir ?? defaultDir(path, doc, envName);
  } else {
    const need = async (v: string | undefined, q: string, flag: string) => {
      const r = await ask(v, q);
      if (!r) throw usageError(`${q} is required for the aws store`, `pass ${flag}`);
      return r;
    };
    env.aws = {
      region: await need(o.region, 'AWS region', '--region'),
      bucket: await need(o.bucket, 'S3 bucket (versioned) for the truststore', '--bucket'),
      table: await need(o.table, 'DynamoDB table', '--table'),
      parameterPrefix: o.parameterPrefix,
      keyCustody: o.keyCustody,
      ...(o.kmsKeyId ? { kmsKeyId: o.kmsKeyId } : {}),
      ...(o.domain
        ? {
            domains: (o.domain as string[]).map((d) => parseDomainSpec(d, '--domain')),
          }
        : {}),
    };
  }
  doc.environments = { ...doc.environments, [envName]: env };
  doc.defaultEnv ??= envName;
  // every check before the first write: a workflow in the way refuses the whole command
  const copies: [string, string][] = [];
  if (o.ci) {
    if (o.ci !== 'github') throw usageError(`unknown CI provider ${o.ci}`, 'use github');
    const src = join(packageRoot(), 'templates', 'github');
    const dest = resolve('.github', 'workflows');
    for (const f of readdirSync(src)) {
      const to = join(dest, f);
      if (existsSync(to) && !o.force) throw conflict(`${to} already exists`, 'use --force to overwrite');
      copies.push([join(src, f), to]);
    }
  }
  const files = [path, ...copies.map(([, to]) => to)];
  if (!o.dryRun) {
    writeFileAtomic(path, JSON.stringify(doc, null, 2) + '\n');
    if (copies.length) mkdirSync(resolve('.github', 'workflows'), { recursive: true });
    for (const [from, to] of copies) copyFileSync(from, to);
  }
  const written = o.dryRun ? [] : files;
  // files: what was written, or in a dry run what would be
  emit({ json: !!g.json }, { dryRun: !!o.dryRun, environment: envName, config: path, settings: env, files }, () =>
    o.dryRun
      ? [`dry run: would write environment ${envName} to ${path}`, ...files.slice(1).map((w) => `would write ${w}`), JSON.stringify(env, null, 2)].join('\n')
      : [`Wrote environment ${envName} to ${path}`, ...written.slice(1).map((w) => `wrote ${w}`), `next: ca bootstrap${envName === doc.defaultEnv ? '' : ` --env ${envName}`}`].join('\n'),
  );
}

/**
 * The local store directory of a new environment: `./pki/<env>`, unless a CA already lives in `./pki` (made
 * before there was a config file) and no environment uses it yet; then the environment keeps it, so `ca init`
 * never hides an existing CA behind an empty store.
 */
function defaultDir(configPath: string, doc: ConfigFile, envName: string): string {
  const base = dirname(configPath);
  const legacy = resolve(base, 'pki');
  const claimed = [doc.dir, ...Object.values(doc.environments ?? {}).map((e) => e.dir)].some((d) => d && resolve(base, d) === legacy);
  if (!claimed && existsSync(join(legacy, 'registry.json'))) {
    process.stderr.write(`a CA already exists in ${legacy}: environment ${envName} keeps it (set another with --dir)\n`);
    return './pki';
  }
  return `./pki/${envName}`;
}
