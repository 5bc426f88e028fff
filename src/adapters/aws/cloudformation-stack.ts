import { CloudFormationClient, DescribeStacksCommand } from '@aws-sdk/client-cloudformation';
import { invalidInput, notFound } from '../../domain/errors.js';
import type { AwsStoreSettings } from './aws-store.js';
import { awsError } from './aws-errors.js';
import { parseDomainSpec } from './domain-spec.js';
import { STACK_OUTPUTS } from './stack-outputs.js';

/** The stack states whose outputs describe resources that exist. */
const USABLE = /^(CREATE_COMPLETE|UPDATE_COMPLETE|UPDATE_ROLLBACK_COMPLETE|IMPORT_COMPLETE|IMPORT_ROLLBACK_COMPLETE|UPDATE_COMPLETE_CLEANUP_IN_PROGRESS)$/;

/**
 * The aws store's settings from the outputs of a deployed ca stack (see STACK_OUTPUTS).
 * @throws CaError notFound when the stack does not exist; invalidInput when it is not deployed or lacks ca's outputs;
 *   storage on other AWS failures
 */
export async function settingsFromStack(stackName: string, region: string): Promise<AwsStoreSettings> {
  const client = new CloudFormationClient({ region });
  let stack;
  try {
    stack = (await client.send(new DescribeStacksCommand({ StackName: stackName }))).Stacks?.[0];
  } catch (e) {
    if ((e as { name?: string }).name === 'ValidationError' && /does not exist/.test((e as Error).message)) stack = undefined;
    else throw awsError(e, 'describe', `CloudFormation stack ${stackName}`);
  } finally {
    client.destroy();
  }
  if (!stack) throw notFound(`CloudFormation stack ${stackName} not found in ${region}`, 'deploy it first (README "Deploy"), or check --region and the name');
  if (!USABLE.test(stack.StackStatus ?? '')) throw invalidInput(`CloudFormation stack ${stackName} is ${stack.StackStatus}, not deployed`, 'wait for the deployment to finish, or fix it');
  const outputs = new Map((stack.Outputs ?? []).map((o) => [o.OutputKey, o.OutputValue]));
  const get = (k: keyof typeof STACK_OUTPUTS) => outputs.get(STACK_OUTPUTS[k]) || undefined;
  const missing = (['bucket', 'table'] as const).filter((k) => !get(k)).map((k) => STACK_OUTPUTS[k]);
  if (missing.length) throw invalidInput(`CloudFormation stack ${stackName} has no output ${missing.join(', ')}: it is not a ca stack`, 'name the stack that holds the MtlsApi construct (or the template in templates/cloudformation)');
  const custody = get('keyCustody');
  if (custody !== undefined && custody !== 'ssm' && custody !== 'kms') throw invalidInput(`output ${STACK_OUTPUTS.keyCustody} of ${stackName} is ${JSON.stringify(custody)}, not ssm or kms`);
  const domains = get('domains');
  return {
    region: get('region') ?? region,
    bucket: get('bucket'),
    truststoreKey: get('truststoreKey'),
    table: get('table'),
    ...(get('parameterPrefix') ? { parameterPrefix: get('parameterPrefix') } : {}),
    ...(custody ? { keyCustody: custody } : {}),
    ...(get('kmsKeyId') ? { kmsKeyId: get('kmsKeyId') } : {}),
    ...(get('truststoreVersionParameter') ? { truststoreVersionParameter: get('truststoreVersionParameter') } : {}),
    ...(domains ? { domains: domains.split(',').filter(Boolean).map((d) => parseDomainSpec(d, `output ${STACK_OUTPUTS.domains}`)) } : {}),
  };
}
