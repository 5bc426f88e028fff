import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('init')
    .description('write ca.config.json (prompts on a terminal, flags otherwise); --env names the environment, --store and --dir set its store, --from-stack reads it from a deployed stack; --iac cdk writes a starter CDK app instead')
    .option('--org <name>', 'organization (O=)')
    .option('--ca-name <name>', 'CA name')
    .option('--key-type <type>', 'client key type')
    .option('--spiffe-trust-domain <domain>', 'SPIFFE trust domain for client URI SANs')
    .option('--region <region>', 'AWS region')
    .option('--bucket <bucket>', 'versioned S3 bucket for the truststore')
    .option('--table <table>', 'DynamoDB table')
    .option('--parameter-prefix <prefix>', 'SSM parameter prefix for CA keys', '/ca')
    .option('--key-custody <custody>', 'ssm or kms', 'ssm')
    .option('--kms-key-id <id>', 'KMS key for SecureString encryption')
    .option('--domain <name:type...>', 'API Gateway custom domain(s) to update, type rest or http')
    .option('--from-stack <name>', 'aws store settings from the outputs of a deployed ca stack (CloudFormation DescribeStacks)')
    .option('--iac <tool>', 'write a starter infrastructure app instead of an environment (cdk)')
    .option('--iac-dir <dir>', 'directory of the starter app', 'infra')
    .option('--stack-name <name>', 'stack name of the starter app', 'Ca')
    .option('--ci <provider>', 'also write CI workflows (github)')
    .option('--force', 'overwrite an existing environment of that name')
    .option('--dry-run', 'print the environment and the files it would write, and write nothing')
    .action(async (o, c: Command) => {
      const { runInit } = await import('./init.run.js');
      await runInit(o, c);
    });
  helpFooter(cmd, [
    'ca init                                               # asks on a terminal',
    'ca init --env sandbox --store local --dry-run --json  # what it would write',
    'ca init --env sandbox --store local --org "Acme Corp"',
    'ca init --env production --store aws --region eu-west-1 --bucket acme-ca-truststore \\\n      --table acme-ca --domain api.acme.com:rest --ci github',
    'ca init --iac cdk                                     # a CDK app in ./infra using ca/cdk (see README "Deploy")',
    'ca init --env production --from-stack Ca --region eu-west-1  # settings from the deployed stack',
  ]);
}
