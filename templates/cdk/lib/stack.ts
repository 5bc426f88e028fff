import { Stack, type StackProps } from 'aws-cdk-lib';
import type { Construct } from 'constructs';
import { MtlsApi } from 'ca/cdk';

export interface CaStackProps extends StackProps {
  /** the custom domain and its ACM certificate (same region); leave out for the first deployment, before `ca bootstrap` */
  readonly domain?: { name: string; certificateArn: string };
  /** where authorized requests are proxied; without it a sample backend answers with what the authorizer passed on */
  readonly backendUrl?: string;
}

/** The certificate authority's store and, with a domain, the API behind mutual TLS. */
export class CaStack extends Stack {
  readonly ca: MtlsApi;

  constructor(scope: Construct, id: string, props: CaStackProps = {}) {
    super(scope, id, props);
    this.ca = new MtlsApi(this, 'Ca', {
      domain: props.domain,
      target: props.backendUrl ? { url: props.backendUrl } : undefined,
      // keyCustody: 'kms',     // CA keys that never leave KMS (set the same in ca.config.json: --from-stack reads it)
      // responseMode: 'simple', // the authorizer's simple responses (HTTP API only)
      // apiType: 'rest',
    });
    // more routes: this.ca.addRoute({ method: 'POST', path: '/orders', target: { url: 'https://orders.internal.example.com' } });
  }
}
