/**
 * The CloudFormation output keys of a ca stack (src/cdk/mtls-api.ts writes them, `ca init --from-stack` reads them):
 * one list, so the two cannot disagree. Constants only: the CDK construct imports this file.
 */
export const STACK_OUTPUTS = {
  region: 'CaRegion',
  bucket: 'CaBucket',
  truststoreKey: 'CaTruststoreKey',
  table: 'CaTable',
  parameterPrefix: 'CaParameterPrefix',
  keyCustody: 'CaKeyCustody',
  kmsKeyId: 'CaSecureStringKeyArn',
  truststoreVersionParameter: 'CaTruststoreVersionParameter',
  /** `name:http` or `name:rest`, present once the stack has its domain */
  domains: 'CaDomains',
  regionalDomainName: 'CaRegionalDomainName',
  regionalHostedZoneId: 'CaRegionalHostedZoneId',
  operatorPolicy: 'CaOperatorPolicyArn',
  authorizerFunction: 'CaAuthorizerFunction',
} as const;
