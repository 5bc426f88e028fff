import type { Command } from 'commander';
import { existsSync, readFileSync, readdirSync, mkdirSync, copyFileSync, statSync } from 'node:fs';
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
  if (o.iac !== undefined) return writeIacStarter(o, !!g.json);
  const path = resolve(g.config ?? CONFIG_FILE);
  const doc: ConfigFile = existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : {};
  const envName = g.env ?? (interactive() ? await askText('Environment name', 'sandbox') : 'sandbox');
  if (doc.environments?.[envName] && !o.force) throw conflict(`environment ${envName} already exists in ${path}`, 'use --force to overwrite it');
  const ask = async (v: string | undefined, q: string, d?: string) => v ?? (interactive() ? await askText(q, d) : d);
  if (o.fromStack && g.store && g.store !== 'aws') throw usageError(`--from-stack reads an aws store's settings, not --store ${g.store}`, 'leave out --store');
  const store = (o.fromStack ? 'aws' : (g.store ?? (interactive() ? await askChoice('Store', ['local', 'aws'], 'local') : 'local'))) as 'local' | 'aws';
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
  } else if (o.fromStack) {
    const region = o.region ?? process.env.CA_AWS_REGION ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) throw usageError('the region of the stack is not set', 'pass --region or set AWS_REGION');
    const { settingsFromStack } = await import('../../adapters/aws/cloudformation-stack.js');
    env.aws = await settingsFromStack(o.fromStack, region);
    if (o.domain) env.aws.domains = (o.domain as string[]).map((d) => parseDomainSpec(d, '--domain'));
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
  emit({ json: !!g.json }, { dryRun: !!o.dryRun, environment: envName, config: path, settings: env, files, ...(o.fromStack ? { stack: o.fromStack } : {}) }, () =>
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

/** `--iac cdk`: the starter CDK app of templates/cdk (a stack using `ca/cdk`), written to `--iac-dir`. */
function writeIacStarter(o: Record<string, any>, json: boolean): void {
  if (o.iac !== 'cdk') throw usageError(`unknown --iac ${JSON.stringify(o.iac)}`, 'use cdk (CloudFormation users: templates/cloudformation/mtls-api.json)');
  const stackName = String(o.stackName);
  // CloudFormation stack names: a letter, then letters, digits and hyphens, at most 128
  if (!/^[A-Za-z][A-Za-z0-9-]{0,127}$/.test(stackName)) throw usageError(`invalid --stack-name ${JSON.stringify(stackName)}`, 'use a letter, then letters, digits and hyphens');
  const root = packageRoot();
  const src = join(root, 'templates', 'cdk');
  const dir = resolve(o.iacDir);
  const version = (JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string }).version;
  const fill = (text: string) => text.replaceAll('__STACK_NAME_LOWER__', stackName.toLowerCase()).replaceAll('__STACK_NAME__', stackName).replaceAll('__CA_VERSION__', version);
  const names = (readdirSync(src, { recursive: true, encoding: 'utf8' }) as string[]).filter((f) => statSync(join(src, f)).isFile()).sort();
  const writes = names.map((f) => [join(dir, f), fill(readFileSync(join(src, f), 'utf8'))] as const);
  // every check before the first write
  for (const [to] of writes) if (existsSync(to) && !o.force) throw conflict(`${to} already exists`, 'use --force to overwrite, or another --iac-dir');
  if (!o.dryRun) {
    for (const [to, text] of writes) {
      mkdirSync(dirname(to), { recursive: true });
      writeFileAtomic(to, text);
    }
  }
  const files = writes.map(([to]) => to);
  emit({ json }, { dryRun: !!o.dryRun, iac: 'cdk', directory: dir, stack: stackName, files }, () =>
    [
      ...files.map((f) => `${o.dryRun ? 'would write' : 'wrote'} ${f}`),
      `next: cd ${o.iacDir} && npm install && npx cdk deploy      # the store; then ca init --from-stack ${stackName} and ca bootstrap (README "Deploy")`,
    ].join('\n'),
  );
}
