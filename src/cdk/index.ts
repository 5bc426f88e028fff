/**
 * `ca/cdk`: the AWS CDK constructs of ca. Needs `aws-cdk-lib` v2 and `constructs` (optional peer dependencies,
 * installed by the CDK app, never loaded by the `ca` CLI).
 */
export { MtlsApi, OUTPUTS, TOKEN_ROUTES, authorizerPolicyDocument, operatorPolicyDocument, prebuiltAuthorizerDir, prebuiltTokenDir, tokenPolicyDocument } from './mtls-api.js';
export type { MtlsApiProps, MtlsDomainOptions, RouteOptions, RouteTarget, TokenServiceOptions } from './mtls-api.js';
export { templateStack, templateJson, TEMPLATE_FILE } from './template.js';
