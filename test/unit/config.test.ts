import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CONFIG_FILE, resolveConfig, type ConfigFile } from '../../src/cli/config.js';
import { DEFAULT_POLICY } from '../../src/domain/policy.js';
import { cleanupAll, expectCaErrorSync, tempDir } from '../helpers/pki.js';

afterAll(cleanupAll);

/** A working directory, optionally with a ca.config.json (or another file name) in `sub`. */
function workspace(file?: ConfigFile | string, o: { sub?: string; name?: string } = {}): { cwd: string; fileDir: string; path?: string } {
  const cwd = tempDir('config');
  const fileDir = o.sub ? join(cwd, o.sub) : cwd;
  mkdirSync(fileDir, { recursive: true });
  let path: string | undefined;
  if (file !== undefined) {
    path = join(fileDir, o.name ?? CONFIG_FILE);
    writeFileSync(path, typeof file === 'string' ? file : JSON.stringify(file, null, 2));
  }
  return { cwd, fileDir, path };
}

const FILE: ConfigFile = {
  organization: 'Top Org',
  caName: 'Top',
  clientValidityDays: 100,
  graceDays: 3,
  dir: './top-state',
  defaultEnv: 'staging',
  environments: {
    staging: { organization: 'Staging Org', dir: './staging-state' },
    prod: { organization: 'Prod Org', clientValidityDays: 200, caKeyType: 'ec-p384', store: 'aws', aws: { bucket: 'prod-bucket', region: 'eu-west-1' } },
  },
};

describe('resolveConfig defaults', () => {
  it('without a file, flags or environment: the default policy, local store in ./pki, bundles in ./bundles', () => {
    const { cwd } = workspace();
    const c = resolveConfig({}, {}, cwd);
    expect(c).toEqual({
      envName: 'default',
      configPath: undefined,
      store: 'local',
      dir: join(cwd, 'pki'),
      bundleDir: join(cwd, 'bundles'),
      policy: DEFAULT_POLICY,
      requested: {},
      crlDays: 7,
      aws: {},
    });
  });

  it('finds ca.config.json in the working directory', () => {
    const { cwd, path } = workspace({ organization: 'Found Org' });
    const c = resolveConfig({}, {}, cwd);
    expect(c.configPath).toBe(path);
    expect(c.policy.organization).toBe('Found Org');
  });
});

describe('resolveConfig precedence: flags > CA_* env > file (environment section over top level) > defaults', () => {
  it.each([
    ['organization', 'CA_ORGANIZATION', 'Flag Org', 'Env Org', (c: ReturnType<typeof resolveConfig>) => c.policy.organization, ['Prod Org', 'Top Org', DEFAULT_POLICY.organization]],
    ['caName', 'CA_NAME', 'FlagName', 'EnvName', (c: ReturnType<typeof resolveConfig>) => c.policy.caName, ['Top', 'Top', DEFAULT_POLICY.caName]],
    ['clientValidityDays', 'CA_CLIENT_DAYS', 30, '40', (c: ReturnType<typeof resolveConfig>) => c.policy.clientValidityDays, [200, 100, DEFAULT_POLICY.clientValidityDays]],
    ['caKeyType', 'CA_CA_KEY_TYPE', 'rsa-3072', 'rsa-2048', (c: ReturnType<typeof resolveConfig>) => c.policy.caKeyType, ['ec-p384', DEFAULT_POLICY.caKeyType, DEFAULT_POLICY.caKeyType]],
    ['graceDays', 'CA_GRACE_DAYS', 0, '1', (c: ReturnType<typeof resolveConfig>) => c.policy.graceDays, [3, 3, DEFAULT_POLICY.graceDays]],
  ] as const)('%s', (key, envVar, flagValue, envValue, read, [fromSection, fromTop, fromDefault]) => {
    const { cwd } = workspace(FILE);
    const flags = { env: 'prod', [key]: flagValue };
    const env = { [envVar]: String(envValue) };
    expect(read(resolveConfig(flags, env, cwd))).toBe(flagValue);
    expect(read(resolveConfig({ env: 'prod' }, env, cwd))).toBe(typeof flagValue === 'number' ? Number(envValue) : envValue);
    expect(read(resolveConfig({ env: 'prod' }, {}, cwd))).toBe(fromSection);
    const { cwd: topOnly } = workspace({ ...FILE, defaultEnv: undefined, environments: undefined });
    expect(read(resolveConfig({}, {}, topOnly))).toBe(fromTop);
    expect(read(resolveConfig({}, {}, workspace().cwd))).toBe(fromDefault);
  });

  it('dir: flag > CA_DIR > section > top level > ./pki/<env> for a named environment', () => {
    const { cwd } = workspace(FILE);
    expect(resolveConfig({ env: 'staging', dir: 'flag-dir' }, { CA_DIR: 'env-dir' }, cwd).dir).toBe(join(cwd, 'flag-dir'));
    expect(resolveConfig({ env: 'staging' }, { CA_DIR: 'env-dir' }, cwd).dir).toBe(join(cwd, 'env-dir'));
    expect(resolveConfig({ env: 'staging' }, {}, cwd).dir).toBe(join(cwd, 'staging-state'));
    // prod has no dir of its own: the top level's applies
    expect(resolveConfig({ env: 'prod' }, {}, cwd).dir).toBe(join(cwd, 'top-state'));
    const { cwd: noDirs } = workspace({ environments: { qa: {} } });
    expect(resolveConfig({ env: 'qa' }, {}, noDirs).dir).toBe(join(noDirs, 'pki', 'qa'));
  });

  it('store: flag > CA_STORE > section; an unknown store is a usage error', () => {
    const { cwd } = workspace(FILE);
    expect(resolveConfig({ env: 'prod' }, {}, cwd).store).toBe('aws');
    expect(resolveConfig({ env: 'prod' }, { CA_STORE: 'local' }, cwd).store).toBe('local');
    expect(resolveConfig({ env: 'staging', store: 'aws' }, { CA_STORE: 'local' }, cwd).store).toBe('aws');
    expectCaErrorSync(() => resolveConfig({ store: 'ftp' as 'aws' }, {}, cwd), 'usage', /unknown store/);
  });

  it('aws settings: CA_AWS_* over the section over the top level; AWS_REGION only as a fallback', () => {
    const { cwd } = workspace({ ...FILE, aws: { bucket: 'top-bucket', table: 'top-table' } });
    const prod = resolveConfig({ env: 'prod' }, { AWS_REGION: 'us-east-1' }, cwd);
    expect(prod.aws).toEqual({ bucket: 'prod-bucket', table: 'top-table', region: 'eu-west-1' });
    const envOver = resolveConfig({ env: 'prod' }, { CA_AWS_BUCKET: 'env-bucket', CA_AWS_REGION: 'ap-south-1' }, cwd);
    expect(envOver.aws).toMatchObject({ bucket: 'env-bucket', region: 'ap-south-1', table: 'top-table' });
    expect(resolveConfig({ env: 'staging' }, { AWS_REGION: 'us-east-1' }, cwd).aws.region).toBe('us-east-1');
  });

  it('empty environment variables count as unset', () => {
    const { cwd } = workspace(FILE);
    const c = resolveConfig({ env: 'prod' }, { CA_ORGANIZATION: '', CA_CLIENT_DAYS: '' }, cwd);
    expect(c.policy.organization).toBe('Prod Org');
    expect(c.policy.clientValidityDays).toBe(200);
  });
});

describe('resolveConfig environments', () => {
  it('--env selects a section; CA_ENV does too; the flag wins', () => {
    const { cwd } = workspace(FILE);
    expect(resolveConfig({ env: 'prod' }, {}, cwd).envName).toBe('prod');
    expect(resolveConfig({}, { CA_ENV: 'prod' }, cwd).policy.organization).toBe('Prod Org');
    expect(resolveConfig({ env: 'staging' }, { CA_ENV: 'prod' }, cwd).policy.organization).toBe('Staging Org');
  });

  it('defaultEnv in the file applies without --env', () => {
    const { cwd } = workspace(FILE);
    const c = resolveConfig({}, {}, cwd);
    expect(c.envName).toBe('staging');
    expect(c.policy.organization).toBe('Staging Org');
  });

  it('an unknown environment is invalidInput naming the known ones', () => {
    const { cwd } = workspace(FILE);
    const e = expectCaErrorSync(() => resolveConfig({ env: 'prdo' }, {}, cwd), 'invalidInput', /environment prdo/);
    expect(e.hint).toMatch(/staging/);
    expect(e.hint).toMatch(/prod/);
    expectCaErrorSync(() => resolveConfig({}, { CA_ENV: 'nope' }, cwd), 'invalidInput', /environment nope/);
  });

  // Otherwise `--env staging` silently shares ./pki (or the top-level store) with every other environment,
  // although the README promises each environment its own store.
  it('an --env the file does not define is refused even when the file has no environments section, or there is no file', () => {
    const { cwd } = workspace({ organization: 'Only Top' });
    expectCaErrorSync(() => resolveConfig({ env: 'prod' }, {}, cwd), 'invalidInput', /environment prod/);
    expectCaErrorSync(() => resolveConfig({}, { CA_ENV: 'prod' }, workspace().cwd), 'invalidInput', /environment prod/);
  });
});

describe('resolveConfig paths', () => {
  it('relative paths in the file are relative to the file, from flags and env relative to the working directory', () => {
    const { cwd, fileDir } = workspace({ dir: './state', bundleDir: '../out' }, { sub: 'conf', name: 'my.json' });
    const c = resolveConfig({ config: 'conf/my.json' }, {}, cwd);
    expect(c.configPath).toBe(join(fileDir, 'my.json'));
    expect(c.dir).toBe(join(fileDir, 'state'));
    expect(c.bundleDir).toBe(join(cwd, 'out'));
    expect(resolveConfig({ config: 'conf/my.json', dir: 'mine' }, {}, cwd).dir).toBe(join(cwd, 'mine'));
    expect(resolveConfig({}, { CA_CONFIG: 'conf/my.json', CA_BUNDLE_DIR: 'b' }, cwd).bundleDir).toBe(join(cwd, 'b'));
  });

  it('absolute paths stay as they are', () => {
    const abs = tempDir('abs');
    const { cwd } = workspace({ dir: abs });
    expect(resolveConfig({}, {}, cwd).dir).toBe(abs);
  });

  it('an explicit config file that does not exist is invalidInput', () => {
    const { cwd } = workspace();
    expectCaErrorSync(() => resolveConfig({ config: 'missing.json' }, {}, cwd), 'invalidInput', /not found/);
  });
});

describe('resolveConfig refuses bad values (invalidInput)', () => {
  it.each([
    ['not JSON', '{ organization: "x" '],
    ['a JSON array', '[1, 2]'],
    ['JSON null', 'null'],
  ])('a config file with %s', (_name, text) => {
    const { cwd } = workspace(text);
    expectCaErrorSync(() => resolveConfig({}, {}, cwd), 'invalidInput', /failed to parse config/);
  });

  it.each([
    [{ caKeyType: 'ed25519' }, {}],
    [{}, { CA_KEY_TYPE: 'rsa-1024' }],
    [{}, { CA_CA_KEY_TYPE: 'dsa' }],
  ])('an invalid key type %j %j', (flags, env) => {
    expectCaErrorSync(() => resolveConfig(flags, env, workspace().cwd), 'invalidInput', /key type/);
  });

  it('an invalid key type in the file', () => {
    const { cwd } = workspace({ clientKeyType: 'ed25519' });
    expectCaErrorSync(() => resolveConfig({}, {}, cwd), 'invalidInput', /key type ed25519/);
  });

  it.each([
    ['CA_CLIENT_DAYS', 'abc'],
    ['CA_CLIENT_DAYS', '0'],
    ['CA_CLIENT_DAYS', '1.5'],
    ['CA_CLIENT_DAYS', '-3'],
    ['CA_CLIENT_DAYS', '40000'],
    ['CA_ROOT_DAYS', 'ten'],
    ['CA_INTERMEDIATE_DAYS', '0'],
    ['CA_GRACE_DAYS', '-1'],
    ['CA_GRACE_DAYS', '400'],
    ['CA_GRACE_DAYS', 'x'],
  ])('%s=%s', (name, value) => {
    expectCaErrorSync(() => resolveConfig({}, { [name]: value }, workspace().cwd), 'invalidInput', /days|graceDays/i);
  });

  it('days in the file are validated too', () => {
    const { cwd } = workspace({ clientValidityDays: 0 });
    expectCaErrorSync(() => resolveConfig({}, {}, cwd), 'invalidInput', /clientValidityDays/);
  });

  it('an invalid SPIFFE trust domain', () => {
    expectCaErrorSync(() => resolveConfig({}, { CA_SPIFFE_TRUST_DOMAIN: 'Example.ORG' }, workspace().cwd), 'invalidInput', /trust domain/);
    expect(resolveConfig({}, { CA_SPIFFE_TRUST_DOMAIN: 'example.org' }, workspace().cwd).policy.spiffeTrustDomain).toBe('example.org');
  });
});

describe('CA_AWS_DOMAINS', () => {
  const domains = (v: string) => resolveConfig({}, { CA_AWS_DOMAINS: v }, workspace().cwd).aws.domains;

  it('parses name:type pairs, rest by default, ignoring empty items', () => {
    expect(domains('api.example.com:rest,h.example.com:http,plain.example.com,')).toEqual([
      { name: 'api.example.com', type: 'rest' },
      { name: 'h.example.com', type: 'http' },
      { name: 'plain.example.com', type: 'rest' },
    ]);
    expect(domains('one.example.com')).toEqual([{ name: 'one.example.com', type: 'rest' }]);
  });

  it('overrides the file’s domains', () => {
    const { cwd } = workspace({ aws: { domains: [{ name: 'file.example.com', type: 'http' }] } });
    expect(resolveConfig({}, {}, cwd).aws.domains).toEqual([{ name: 'file.example.com', type: 'http' }]);
    expect(resolveConfig({}, { CA_AWS_DOMAINS: 'env.example.com:rest' }, cwd).aws.domains).toEqual([{ name: 'env.example.com', type: 'rest' }]);
  });

  it.each(['api.example.com:grpc', ':rest', 'a.example.com:REST'])('refuses %s', (v) => {
    expectCaErrorSync(() => domains(v), 'invalidInput', /CA_AWS_DOMAINS/);
  });
});

describe('CRL settings', () => {
  it('crlDays comes from the file or CA_CRL_DAYS (default 7) and is checked', () => {
    const { cwd } = workspace({ crlDays: 3 });
    expect(resolveConfig({}, {}, cwd).crlDays).toBe(3);
    expect(resolveConfig({}, { CA_CRL_DAYS: '14' }, cwd).crlDays).toBe(14);
    expectCaErrorSync(() => resolveConfig({}, { CA_CRL_DAYS: '0' }, cwd), 'invalidInput', /crlDays must be a whole number of days from 1 to 366/);
    expectCaErrorSync(() => resolveConfig({}, { CA_CRL_DAYS: '400' }, cwd), 'invalidInput', /crlDays/);
  });

  it('crlDistributionPoint is a profile setting: an https:// or s3:// URL, {issuer} only in the path', () => {
    const { cwd } = workspace();
    const ok = resolveConfig({}, { CA_CRL_DISTRIBUTION_POINT: 'https://pki.example.com/crl/{issuer}.crl' }, cwd);
    expect(ok.requested.crlDistributionPoint).toEqual({ value: 'https://pki.example.com/crl/{issuer}.crl', source: 'CA_CRL_DISTRIBUTION_POINT' });
    expect(ok.policy.crlDistributionPoint).toBe('https://pki.example.com/crl/{issuer}.crl');
    expect(resolveConfig({}, { CA_CRL_DISTRIBUTION_POINT: 's3://my-bucket/crl/{issuer}.crl' }, cwd).policy.crlDistributionPoint).toBe('s3://my-bucket/crl/{issuer}.crl');
    expect(resolveConfig({}, {}, cwd).policy.crlDistributionPoint).toBeUndefined();
    for (const [bad, why] of [
      ['http://pki.example.com/a.crl', /scheme is http, not https or s3/],
      ['ldap://x/cn=ca', /scheme is ldap/],
      ['https://user:pw@pki.example.com/a.crl', /credentials/],
      ['https://pki.example.com/a b.crl', /printable ASCII/],
      ['https://pki.example.com/a.crl#x', /fragment/],
      ['s3://bucket', /no object key/],
      ['https://{issuer}.example.com/a.crl', /only in the path/],
      ['not a url', /printable ASCII|not a URL/],
      [`https://pki.example.com/${'a'.repeat(600)}`, /longer than 512/],
    ] as const) {
      expectCaErrorSync(() => resolveConfig({}, { CA_CRL_DISTRIBUTION_POINT: bad }, cwd), 'invalidInput', why);
    }
  });
});
