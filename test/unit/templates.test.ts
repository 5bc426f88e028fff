import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BIN, ca, REPO, tempDir } from '../helpers/cli.js';
import { VENV_PYTHON } from '../helpers/moto.js';

/**
 * The GitHub workflow templates (templates/github), parsed by PyYAML (an independent YAML parser), checked for the
 * conventions templates/README.md promises, for every `npx ca` command they run against this build's own help,
 * and, for the maintenance workflow, its check step run as GitHub would run it.
 */
const DIR = join(REPO, 'templates', 'github');
const NAMES = readdirSync(DIR).filter((f) => f.endsWith('.yml'));

function parse(file: string): any {
  const r = spawnSync(VENV_PYTHON, ['-c', 'import json,sys,yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1]))))', join(DIR, file)], { encoding: 'utf8', timeout: 30_000 });
  expect(r.status, r.stderr).toBe(0);
  const doc = JSON.parse(r.stdout);
  // YAML 1.1 reads the key `on` as a boolean
  if ('true' in doc) doc.on = doc.true;
  return doc;
}

const steps = (doc: any): any[] => Object.values(doc.jobs).flatMap((j: any) => j.steps);
/** Every `npx ca …` command line of the workflow's steps, as words (quotes removed, variables kept). */
function caCommands(doc: any): string[][] {
  const out: string[][] = [];
  for (const s of steps(doc)) {
    for (const line of String(s.run ?? '').split('\n')) {
      const m = /(?:^|\s)npx ca (.*)$/.exec(line.trim());
      if (m) out.push(m[1]!.replace(/>.*$/, '').replace(/"/g, '').trim().split(/\s+/));
    }
  }
  return out;
}

/** The deploy workflow runs `cdk deploy`, not ca: its own concurrency group and role (test/cdk/workflow.test.ts). */
const CA_WORKFLOWS = NAMES.filter((n) => n !== 'ca-deploy.yml');

describe('GitHub workflow templates', () => {
  const readme = readFileSync(join(REPO, 'templates', 'README.md'), 'utf8');
  const help = ca(REPO, ['--help']).stdout;
  const known = new Set([...help.split(/^Commands:$/m)[1]!.matchAll(/^ {2}([a-z][a-z-]+)/gm)].map((m) => m[1]!));

  it.each(CA_WORKFLOWS)('%s: OIDC, no stored keys, one concurrency group per environment, placeholders documented', (name) => {
    const text = readFileSync(join(DIR, name), 'utf8');
    const doc = parse(name);
    expect(doc.permissions).toEqual({ 'id-token': 'write', contents: 'read' });
    expect(doc.concurrency).toEqual({ group: expect.stringMatching(/^ca-(__CA_ENV__|\$\{\{ inputs\.env \}\})$/), 'cancel-in-progress': false });
    const aws = steps(doc).find((s) => String(s.uses ?? '').startsWith('aws-actions/configure-aws-credentials@'));
    expect(aws?.with).toMatchObject({ 'role-to-assume': '__CA_ROLE_ARN__', 'aws-region': '__AWS_REGION__' });
    expect(text).not.toMatch(/aws-access-key-id|aws-secret-access-key|secrets\.AWS_/i);
    for (const [p] of text.matchAll(/__[A-Z_]+__/g)) expect(readme, `${p} is documented in templates/README.md`).toContain(`\`${p}\``);
    expect(readme, `${name} is described in templates/README.md`).toContain(`\`${name}\``);
  });

  it.each(CA_WORKFLOWS)('%s: every ca command and flag it runs exists in this build', (name) => {
    const cmds = caCommands(parse(name));
    expect(cmds.length).toBeGreaterThan(0);
    for (const words of cmds) {
      const verb = words[0]!;
      expect(known, `ca ${verb}`).toContain(verb);
      const sub = ['truststore', 'authorizer', 'audit', 'client', 'token-key', 'token'].includes(verb) && words[1] && !words[1].startsWith('-') ? [verb, words[1]] : [verb];
      const usage = ca(REPO, [...sub, '--help']).stdout;
      for (const flag of words.filter((w) => w.startsWith('--'))) expect(usage, `ca ${sub.join(' ')} ${flag}`).toContain(flag.split('=')[0]);
    }
  });

  it('ca-maintenance.yml runs daily and by hand: renews the window, re-signs the CRLs, then checks even after a failure', () => {
    const doc = parse('ca-maintenance.yml');
    expect(doc.on.schedule).toHaveLength(1);
    expect(doc.on.schedule[0].cron).toMatch(/^\d+ \d+ \* \* \*$/);
    expect(doc.on.workflow_dispatch.inputs).toHaveProperty('renew-within-days');
    const cmds = caCommands(doc).map((w) => w.slice(0, 2).join(' '));
    expect(cmds).toEqual(['renew --expiring-within', 'crl --env', 'status --check']);
    const last = steps(doc).at(-1);
    expect(last.if).toBe('${{ !cancelled() }}');
  });

  it('its check step fails visibly, with the warning as an annotation and in the summary, on an intermediate near its end without a successor', () => {
    const check = steps(parse('ca-maintenance.yml')).at(-1).run as string;
    const dir = tempDir('ca-wf-');
    expect(ca(dir, ['bootstrap', '--intermediate-days', '20']).code).toBe(0);
    // `npx ca` as the runner has it: this build's binary, the environment given by the config file
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'npx'), `#!/bin/sh\nshift\nexec "${process.execPath}" "${BIN}" "$@"\n`);
    chmodSync(join(bin, 'npx'), 0o755);
    writeFileSync(join(dir, 'ca.config.json'), JSON.stringify({ environments: { prod: { dir: './pki' } } }));
    const script = check.replace(/__CA_ENV__/g, 'prod');
    const summary = join(dir, 'summary.md');
    const run = (warnDays: string) =>
      spawnSync('bash', ['-e', '-c', script], {
        cwd: dir,
        encoding: 'utf8',
        timeout: 60_000,
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, WARN_DAYS: warnDays, GITHUB_STEP_SUMMARY: summary, CA_PASSPHRASE: 'unused-here-0123' },
      });
    const failed = run('30');
    expect(failed.status, failed.stderr).toBe(7);
    expect(failed.stdout).toMatch(/^::error title=ca status::the issuing intermediate .* has no successor: run `ca rotate-intermediate`$/m);
    expect(readFileSync(summary, 'utf8')).toMatch(/^- \*\*warning\*\*: the issuing intermediate .* has no successor/m);
    const fine = run('5');
    expect(fine.status, fine.stderr).toBe(0);
    expect(fine.stdout).not.toMatch(/::error/);
  });
});
