import { App, CfnCondition, CfnParameter, CfnRule, DefaultStackSynthesizer, Fn, Stack } from 'aws-cdk-lib';
import { MtlsApi } from './mtls-api.js';

/** The file the build writes the plain template to (templates/README.md describes its parameters). */
export const TEMPLATE_FILE = 'templates/cloudformation/mtls-api.json';

/**
 * The stack behind the plain CloudFormation template: {@link MtlsApi} with its inputs as template parameters.
 * Without `DomainName` it creates the store only (bucket, table, keys, operator policy): the first deployment,
 * before `ca bootstrap`; with it, the HTTP API, its mutual TLS domain and the authorizer, whose code is the zip
 * `ca authorizer build` writes, uploaded to the truststore bucket under `AuthorizerCodeKey`.
 */
export function templateStack(app = new App({ analyticsReporting: false, context: { 'aws:cdk:enable-path-metadata': false } })): Stack {
  const stack = new Stack(app, 'MtlsApi', {
    synthesizer: new DefaultStackSynthesizer({ generateBootstrapVersionRule: false }),
    description: 'ca: API Gateway mutual TLS with a private CA (truststore bucket, registry table, authorizer, HTTP API)',
  });
  const param = (id: string, description: string, o: Partial<ConstructorParameters<typeof CfnParameter>[2]> = {}) =>
    new CfnParameter(stack, id, { type: 'String', description, ...o }).valueAsString;
  const domainName = param('DomainName', 'custom domain (e.g. api.example.com); empty for the first deployment, before `ca bootstrap`', { default: '' });
  const certificateArn = param('CertificateArn', 'ACM certificate for DomainName, in this region (with DomainName)', { default: '' });
  const backendUrl = param('BackendUrl', 'HTTP URL authorized requests are proxied to (with DomainName)', { default: '' });
  const codeKey = param('AuthorizerCodeKey', 'object key, in the truststore bucket, of the zip `ca authorizer build` writes (with DomainName)', { default: 'lambda/authorizer.zip' });
  const prefix = param('ParameterPrefix', 'SSM path of ca (aws.parameterPrefix)', { default: '/ca', allowedPattern: '^/[A-Za-z0-9_.\\-/]*[A-Za-z0-9_.\\-]$' });
  const hasDomain = new CfnCondition(stack, 'HasDomain', { expression: Fn.conditionNot(Fn.conditionEquals(domainName, '')) });
  // a DomainName without what the API needs is refused before anything is created
  const set = (v: string) => Fn.conditionNot(Fn.conditionEquals(v, ''));
  new CfnRule(stack, 'DomainNeedsCertificateAndBackend', {
    ruleCondition: set(domainName),
    assertions: [
      { assert: set(certificateArn), assertDescription: 'CertificateArn is required with DomainName (an ACM certificate for it, in this region)' },
      { assert: set(backendUrl), assertDescription: 'BackendUrl is required with DomainName (where authorized requests go)' },
    ],
  });
  new MtlsApi(stack, 'Ca', {
    domain: { name: domainName, certificateArn },
    apiCondition: hasDomain,
    parameterPrefix: prefix,
    target: { url: backendUrl },
    authorizerCodeKey: codeKey,
  });
  return stack;
}

/** The plain template, as JSON text with a final newline (what the build writes and the drift test compares). */
export function templateJson(): string {
  const stack = templateStack();
  const template = App.of(stack)!.synth().getStackByName(stack.stackName).template;
  return JSON.stringify(template, null, 2) + '\n';
}
