/** The deploy workflow template and its role's policy (templates/github/ca-deploy.yml, templates/iam/cdk-deploy-policy.json). */
import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ca, REPO, tempDir } from '../helpers/cli.js';

const workflow = readFileSync(join(REPO, 'templates/github/ca-deploy.yml'), 'utf8');

describe('the deploy workflow', () => {
  it('deploys the starter app with cdk deploy, on credentials from GitHub OIDC (no stored keys)', () => {
    expect(workflow).toMatch(/^permissions:\n {2}id-token: write\b/m);
    expect(workflow).toMatch(/uses: aws-actions\/configure-aws-credentials@v4\n\s+with:\n\s+role-to-assume: __CA_DEPLOY_ROLE_ARN__/);
    expect(workflow).toMatch(/run: npx cdk deploy --all --ci --require-approval never/);
    expect(workflow).toMatch(/working-directory: infra/);
    expect(workflow).not.toMatch(/aws-access-key-id|AWS_SECRET_ACCESS_KEY/);
  });

  it('every placeholder of the workflows and IAM templates is documented in templates/README.md', () => {
    const readme = readFileSync(join(REPO, 'templates/README.md'), 'utf8');
    const files = ['github/ca-deploy.yml', 'iam/cdk-deploy-policy.json', 'iam/ca-cli-policy.json', 'iam/authorizer-policy.json'];
    for (const f of files) {
      for (const [p] of readFileSync(join(REPO, 'templates', f), 'utf8').matchAll(/__[A-Z_]+?__/g)) expect(readme, `${p} of ${f}`).toContain(`\`${p}\``);
    }
  });

  it('the deploy role may only assume the CDK bootstrap roles of its account and region', () => {
    const policy = JSON.parse(readFileSync(join(REPO, 'templates/iam/cdk-deploy-policy.json'), 'utf8'));
    expect(policy.Statement).toHaveLength(1);
    expect(policy.Statement[0].Action).toBe('sts:AssumeRole');
    for (const r of policy.Statement[0].Resource) expect(r).toMatch(/^arn:aws:iam::__ACCOUNT_ID__:role\/cdk-hnb659fds-[a-z-]+-role-__ACCOUNT_ID__-__AWS_REGION__$/);
  });

  it('ca init --ci github copies it with the others', () => {
    const r = ca(tempDir('ca-ci-deploy-'), ['init', '--env', 'prod', '--store', 'local', '--ci', 'github', '--dry-run', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().files.some((f: string) => f.endsWith('.github/workflows/ca-deploy.yml'))).toBe(true);
  });
});
