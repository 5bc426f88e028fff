import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('import')
    .description('adopt the CA and client records of the Python/Terraform setup (SSM, DynamoDB, S3) without locking anyone out')
    .requiredOption('--ssm-prefix <path>', 'SSM path /<project>/<env> of the setup being imported (its ca/ and clients/ parameters)')
    .option('--table <name>', 'DynamoDB metadata table of the setup being imported', 'mtls-clients-metadata')
    .option('--bucket <name>', 'S3 bucket of the setup being imported: its truststore.pem is compared with the one published here')
    .option('--strict', 'fail when API Gateway reports truststore warnings')
    .option('--dry-run', 'print what would be adopted and refused, and change nothing')
    .action(async (o, c: Command) => {
      const { runImport } = await import('./import.run.js');
      await runImport(o, c);
    });
  helpFooter(cmd, [
    'ca import --env sandbox --ssm-prefix /apigw-mtls/sandbox --dry-run',
    'ca import --env sandbox --ssm-prefix /apigw-mtls/sandbox --table mtls-clients-metadata --bucket apigw-mtls-truststore --json',
    'ca rotate-intermediate --env sandbox --deliver ssm   # later: every imported client moves to this tool\'s profile',
  ]);
}
