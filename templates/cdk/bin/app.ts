#!/usr/bin/env node
// The CDK app `ca init --iac cdk` wrote. Deploy it twice: first without a domain (the store: bucket, table, keys),
// then `npx ca init --from-stack __STACK_NAME__` and `npx ca bootstrap`, then with domainName and certificateArn set
// in cdk.json (the API and its mutual TLS domain, which needs the truststore `ca bootstrap` published).
import { App } from 'aws-cdk-lib';
import { CaStack } from '../lib/stack.js';

const app = new App();
const context = (key: string): string | undefined => app.node.tryGetContext(key) || undefined;
const domainName = context('domainName');
const certificateArn = context('certificateArn');
new CaStack(app, '__STACK_NAME__', {
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  domain: domainName && certificateArn ? { name: domainName, certificateArn } : undefined,
  backendUrl: context('backendUrl'),
});
