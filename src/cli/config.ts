import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { KeyType } from '../ports.js';
import type { AwsStoreSettings } from '../adapters/aws/aws-store.js';
import { invalidInput, usageError } from '../domain/errors.js';
import { parseKeyType } from '../domain/keys.js';
import { DEFAULT_CRL_DAYS, DEFAULT_POLICY, parseCrlDays, parseGraceDays, validateCrlDistributionPoint, validateDays, validateTrustDomain, type CaPolicy } from '../domain/policy.js';
import type { RequestedProfile } from '../domain/profile.js';
import { parseDomainSpec } from '../adapters/aws/domain-spec.js';

/** Settings of the AWS store (see README "Configuration"); the adapter owns their meaning. */
export type AwsSettings = AwsStoreSettings;

/** One environment's settings, as written in ca.config.json (every key optional). */
export interface EnvSettings {
  store?: 'local' | 'aws';
  dir?: string;
  bundleDir?: string;
  organization?: string;
  caName?: string;
  caKeyType?: string;
  clientKeyType?: string;
  rootValidityDays?: number;
  intermediateValidityDays?: number;
  clientValidityDays?: number;
  graceDays?: number;
  spiffeTrustDomain?: string;
  crlDistributionPoint?: string;
  crlDays?: number;
  aws?: AwsSettings;
}

export interface ConfigFile extends EnvSettings {
  defaultEnv?: string;
  environments?: Record<string, EnvSettings>;
}

export const CONFIG_FILE = 'ca.config.json';

/** Every setting, its environment variable and what it means: the source of the README table and `ca init`. */
export const SETTINGS: { key: keyof EnvSettings | `aws.${keyof AwsSettings}`; env: string; flag?: string; doc: string; default?: string }[] = [
  { key: 'store', env: 'CA_STORE', flag: '--store', doc: 'where state lives: local (a directory) or aws', default: 'local' },
  { key: 'dir', env: 'CA_DIR', flag: '--dir', doc: 'local store directory', default: './pki' },
  { key: 'bundleDir', env: 'CA_BUNDLE_DIR', flag: '--out', doc: 'where client bundles are written (<bundleDir>/<id>/)', default: './bundles' },
  { key: 'organization', env: 'CA_ORGANIZATION', flag: '--org', doc: 'O= of the CA and client certificates (fixed at bootstrap)', default: DEFAULT_POLICY.organization },
  { key: 'caName', env: 'CA_NAME', flag: '--ca-name', doc: 'CA name, used in the CA subjects', default: DEFAULT_POLICY.caName },
  { key: 'caKeyType', env: 'CA_CA_KEY_TYPE', flag: '--ca-key-type', doc: 'key type of root and intermediates', default: DEFAULT_POLICY.caKeyType },
  { key: 'clientKeyType', env: 'CA_KEY_TYPE', flag: '--key-type', doc: 'key type generated for clients', default: DEFAULT_POLICY.clientKeyType },
  { key: 'rootValidityDays', env: 'CA_ROOT_DAYS', doc: 'root validity in days', default: String(DEFAULT_POLICY.rootValidityDays) },
  { key: 'intermediateValidityDays', env: 'CA_INTERMEDIATE_DAYS', doc: 'intermediate validity in days (never past the root)', default: String(DEFAULT_POLICY.intermediateValidityDays) },
  { key: 'clientValidityDays', env: 'CA_CLIENT_DAYS', flag: '--days', doc: 'client certificate validity in days (never past its issuer)', default: String(DEFAULT_POLICY.clientValidityDays) },
  { key: 'graceDays', env: 'CA_GRACE_DAYS', flag: '--grace-days', doc: 'days a superseded client certificate stays accepted', default: String(DEFAULT_POLICY.graceDays) },
  { key: 'spiffeTrustDomain', env: 'CA_SPIFFE_TRUST_DOMAIN', flag: '--spiffe-trust-domain', doc: 'adds the URI SAN spiffe://<domain>/client/<id> to client certificates' },
  { key: 'crlDistributionPoint', env: 'CA_CRL_DISTRIBUTION_POINT', flag: '--crl-distribution-point', doc: 'adds a CRL distribution point (https:// or s3:// URL, {issuer} = the intermediate\'s serial) to new client certificates' },
  { key: 'crlDays', env: 'CA_CRL_DAYS', flag: '--days (ca crl)', doc: 'days from a CRL\'s thisUpdate to its nextUpdate', default: '7' },
  { key: 'aws.region', env: 'CA_AWS_REGION', doc: 'AWS region (else AWS_REGION)' },
  { key: 'aws.bucket', env: 'CA_AWS_BUCKET', doc: 'versioned S3 bucket for the truststore' },
  { key: 'aws.truststoreKey', env: 'CA_AWS_TRUSTSTORE_KEY', doc: 'S3 object key of the truststore', default: 'truststore.pem' },
  { key: 'aws.table', env: 'CA_AWS_TABLE', doc: 'DynamoDB table of the registry' },
  { key: 'aws.parameterPrefix', env: 'CA_AWS_PARAMETER_PREFIX', doc: 'SSM parameter prefix for CA keys (not starting with aws or ssm)', default: '/ca' },
  { key: 'aws.keyCustody', env: 'CA_AWS_KEY_CUSTODY', doc: 'ssm (SecureString) or kms (non-exportable KMS keys)', default: 'ssm' },
  { key: 'aws.kmsKeyId', env: 'CA_AWS_KMS_KEY_ID', doc: 'customer-managed KMS key for SecureString encryption (default aws/ssm)' },
  { key: 'aws.domains', env: 'CA_AWS_DOMAINS', doc: 'API Gateway custom domains to update, e.g. api.example.com:rest,h.example.com:http' },
];

/** Options that can come from flags, the highest-priority source. */
export interface GlobalFlags {
  config?: string;
  env?: string;
  store?: string;
  dir?: string;
}

export interface ResolvedConfig {
  envName: string;
  configPath?: string;
  store: 'local' | 'aws';
  dir: string;
  bundleDir: string;
  /** the defaults with this run's explicit settings over them, before the store's recorded profile is read */
  policy: CaPolicy;
  /** the profile settings given explicitly (flags, variables, the config file), checked against the recorded profile */
  requested: RequestedProfile;
  /** days from a CRL's thisUpdate to its nextUpdate */
  crlDays: number;
  aws: AwsSettings;
}

/** Flags that set a profile setting without a SETTINGS row of their own. */
const PROFILE_FLAGS: Partial<Record<keyof CaPolicy, string>> = { rootValidityDays: '--root-days', intermediateValidityDays: '--intermediate-days' };

function readConfigFile(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw invalidInput(`failed to read config ${path}: ${(e as Error).message}`);
  }
  try {
    const doc = JSON.parse(text);
    if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw new Error('not a JSON object');
    return doc as ConfigFile;
  } catch (e) {
    throw invalidInput(`failed to parse config ${path}: ${(e as Error).message}`, 'fix the JSON, or write a new one with `ca init`');
  }
}

function num(name: string, v: unknown): number | undefined {
  if (v === undefined || v === '') return undefined;
  if (typeof v === 'string' && !/^\d+$/.test(v.trim())) throw invalidInput(`${name} must be a whole number of days, got ${JSON.stringify(v)}`);
  return validateDays(name, Number(v));
}

function parseDomains(v: string): AwsSettings['domains'] {
  return v
    .split(',')
    .filter(Boolean)
    .map((item) => parseDomainSpec(item, 'CA_AWS_DOMAINS'));
}

function fromEnv(env: NodeJS.ProcessEnv): EnvSettings {
  const s: EnvSettings = {};
  const aws: AwsSettings = {};
  for (const d of SETTINGS) {
    const v = env[d.env];
    if (v === undefined || v === '') continue;
    if (d.key.startsWith('aws.')) {
      const k = d.key.slice(4) as keyof AwsSettings;
      (aws as Record<string, unknown>)[k] = k === 'domains' ? parseDomains(v) : v;
    } else {
      (s as Record<string, unknown>)[d.key] = v;
    }
  }
  if (Object.keys(aws).length) s.aws = aws;
  return s;
}

/**
 * Resolves settings: flags, then CA_* environment variables, then ca.config.json (the environment's
 * section over the top level), then defaults. Relative paths in the file are relative to the file.
 */
export function resolveConfig(flags: GlobalFlags & Partial<EnvSettings>, env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): ResolvedConfig {
  const explicit = flags.config ?? env.CA_CONFIG;
  const configPath = explicit ? resolve(cwd, explicit) : existsSync(resolve(cwd, CONFIG_FILE)) ? resolve(cwd, CONFIG_FILE) : undefined;
  if (explicit && !existsSync(configPath!)) throw invalidInput(`config file ${explicit} not found`, 'write one with `ca init`');
  const file = configPath ? readConfigFile(configPath) : {};
  const envName = flags.env ?? env.CA_ENV ?? file.defaultEnv ?? 'default';
  const section = file.environments?.[envName];
  if ((flags.env ?? env.CA_ENV) && !section) {
    throw invalidInput(
      `environment ${envName} is not in ${configPath ?? `${CONFIG_FILE} (there is none here)`}`,
      `known: ${Object.keys(file.environments ?? {}).join(', ') || 'none'}; add it with \`ca init --env ${envName}\``,
    );
  }
  const { environments: _e, defaultEnv: _d, ...top } = file;
  const fileBase = configPath ? dirname(configPath) : cwd;
  const fileSettings: EnvSettings = { ...top, ...section, aws: { ...top.aws, ...section?.aws } };
  const envSettings = fromEnv(env);
  const flagSettings: EnvSettings = Object.fromEntries(Object.entries(flags).filter(([k, v]) => v !== undefined && k !== 'config' && k !== 'env'));
  const pick = <K extends keyof EnvSettings>(k: K): EnvSettings[K] => flagSettings[k] ?? envSettings[k] ?? fileSettings[k];
  // Paths from the file are relative to the file; paths from flags and env relative to the working directory.
  const pathOf = (k: 'dir' | 'bundleDir', dflt: string) =>
    flagSettings[k] ?? envSettings[k] ? resolve(cwd, (flagSettings[k] ?? envSettings[k])!) : fileSettings[k] ? resolve(fileBase, fileSettings[k]!) : resolve(cwd, dflt);
  const envDefaultDir = section && envName !== 'default' ? `./pki/${envName}` : './pki';

  const store = pick('store') ?? 'local';
  if (store !== 'local' && store !== 'aws') throw usageError(`unknown store ${JSON.stringify(store)}`, 'use local or aws');
  // Each profile setting given explicitly, parsed, with where it came from (named when it disagrees with the CA's
  // recorded profile); the policy is these over the defaults, until the store's recorded profile is read.
  const requested: RequestedProfile = {};
  const take = <K extends keyof CaPolicy>(k: K, parse: (v: unknown) => CaPolicy[K]) => {
    const from = flagSettings[k] !== undefined ? 'flag' : envSettings[k] !== undefined ? 'env' : fileSettings[k] !== undefined ? 'file' : undefined;
    if (!from) return;
    const d = SETTINGS.find((x) => x.key === k);
    const source = from === 'flag' ? (d?.flag ?? PROFILE_FLAGS[k] ?? k) : from === 'env' ? d!.env : `${k} in ${configPath}`;
    (requested as Record<string, unknown>)[k] = { value: parse(pick(k as keyof EnvSettings)), source };
  };
  take('organization', String);
  take('caName', String);
  take('caKeyType', (v) => parseKeyType(String(v)));
  take('clientKeyType', (v) => parseKeyType(String(v)));
  take('rootValidityDays', (v) => num('rootValidityDays', v)!);
  take('intermediateValidityDays', (v) => num('intermediateValidityDays', v)!);
  take('clientValidityDays', (v) => num('clientValidityDays', v)!);
  take('graceDays', parseGraceDays);
  take('spiffeTrustDomain', (v) => validateTrustDomain(String(v)));
  take('crlDistributionPoint', (v) => validateCrlDistributionPoint(String(v)));
  const policy: CaPolicy = { ...DEFAULT_POLICY };
  for (const [k, v] of Object.entries(requested)) (policy as unknown as Record<string, unknown>)[k] = v!.value;
  const aws: AwsSettings = { ...fileSettings.aws, ...envSettings.aws };
  if (!aws.region && env.AWS_REGION) aws.region = env.AWS_REGION;
  return {
    envName,
    configPath,
    store,
    dir: pathOf('dir', envDefaultDir),
    bundleDir: pathOf('bundleDir', './bundles'),
    policy,
    requested,
    crlDays: pick('crlDays') === undefined || (pick('crlDays') as unknown) === '' ? DEFAULT_CRL_DAYS : parseCrlDays(pick('crlDays')),
    aws,
  };
}
