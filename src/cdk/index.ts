/**
 * `ca/cdk`: the AWS CDK constructs of ca. Needs `aws-cdk-lib` v2 and `constructs` (optional peer dependencies,
 * installed by the CDK app, never loaded by the `ca` CLI).
 */
export { MtlsApi, OUTPUTS, authorizerPolicyDocument, operatorPolicyDocument, prebuiltAuthorizerDir } from './mtls-api.js';
export type { MtlsApiProps, MtlsDomainOptions, RouteOptions, RouteTarget } from './mtls-api.js';
export { templateStack, templateJson, TEMPLATE_FILE } from './template.js';
