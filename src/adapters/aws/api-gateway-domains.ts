import { APIGatewayClient, GetDomainNameCommand as GetRestDomain, UpdateDomainNameCommand as UpdateRestDomain, type GetDomainNameCommandOutput as RestDomain } from '@aws-sdk/client-api-gateway';
import {
  ApiGatewayV2Client,
  GetDomainNameCommand as GetHttpDomain,
  UpdateDomainNameCommand as UpdateHttpDomain,
  type DomainNameConfiguration,
  type GetDomainNameCommandOutput as HttpDomain,
} from '@aws-sdk/client-apigatewayv2';
import { CaError, notFound, storageError, usageError } from '../../domain/errors.js';
import { awsError } from './aws-errors.js';
import { sleep as realSleep } from './sdk-config.js';

export interface DomainRef {
  name: string;
  /** `rest`: API Gateway v1 (REST APIs); `http`: API Gateway v2 (HTTP APIs) */
  type: 'rest' | 'http';
}

/** Points custom domains at a truststore version. */
export interface TruststoreDomains {
  /** Makes every domain use `version` of `uri`; returns what API Gateway warned about the domains it updated. */
  point(uri: string, version: string): Promise<{ updated: string[]; warnings: string[] }>;
}

export interface ApiGatewayDomainsOptions {
  domains: DomainRef[];
  rest: APIGatewayClient;
  http: ApiGatewayV2Client;
  /** first wait between status polls (default 2 s), growing by half each poll up to 15 s */
  pollIntervalMs?: number;
  /** give up waiting for AVAILABLE after this long (default 5 min) */
  maxWaitMs?: number;
  sleep?: (ms: number) => Promise<void>;
}

/** The API Gateway side of publishing: REST domains by JSON Patch, HTTP domains by UpdateDomainName and polling. */
export class ApiGatewayDomains implements TruststoreDomains {
  private readonly pollIntervalMs: number;
  private readonly maxWaitMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly o: ApiGatewayDomainsOptions) {
    this.pollIntervalMs = o.pollIntervalMs ?? 2000;
    this.maxWaitMs = o.maxWaitMs ?? 5 * 60 * 1000;
    this.sleep = o.sleep ?? realSleep;
  }

  async point(uri: string, version: string): Promise<{ updated: string[]; warnings: string[] }> {
    const updated: string[] = [];
    const warnings: string[] = [];
    for (const d of this.o.domains) {
      try {
        const w = d.type === 'rest' ? await this.pointRest(d.name, uri, version) : await this.pointHttp(d.name, uri, version);
        if (w) {
          updated.push(d.name);
          warnings.push(...w.map((m) => `${d.name}: ${m}`));
        }
      } catch (e) {
        throw this.fail(e, d);
      }
    }
    return { updated, warnings };
  }

  private fail(e: unknown, d: DomainRef): CaError {
    const what = `API Gateway ${d.type === 'rest' ? 'REST' : 'HTTP'} domain ${d.name}`;
    return awsError(e, 'update', what, (code) => {
      if (code === 'NotFoundException') return notFound(`${what} not found`, 'check `domains` in the configuration (name, type rest|http) and the region');
      if (code === 'BadRequestException') return storageError(`API Gateway refused the truststore for ${what}: ${(e as Error).message}`, 'run `ca verify-truststore` and fix what it reports');
      return undefined;
    });
  }

  /** Refuses a domain without mutual TLS or one that uses another truststore object. */
  private check(name: string, currentUri: string | undefined, uri: string, fix: string): void {
    if (!currentUri) throw usageError(`API Gateway domain ${name} has no mutual TLS configured`, `enable it with truststore ${uri}: ${fix}`);
    if (currentUri !== uri) throw usageError(`API Gateway domain ${name} uses truststore ${currentUri}, not ${uri}`, 'fix `bucket` / `truststoreKey` or `domains` in the configuration');
  }

  private async pointRest(name: string, uri: string, version: string): Promise<string[] | undefined> {
    let d: RestDomain = await this.o.rest.send(new GetRestDomain({ domainName: name }));
    const m = d.mutualTlsAuthentication;
    this.check(name, m?.truststoreUri, uri, `aws apigateway update-domain-name --domain-name ${name} --patch-operations op=replace,path=/mutualTlsAuthentication/truststoreUri,value=${uri}`);
    if (m?.truststoreVersion === version) return undefined;
    d = await this.waitRest(name, d);
    const r = await this.o.rest.send(
      new UpdateRestDomain({ domainName: name, patchOperations: [{ op: 'replace', path: '/mutualTlsAuthentication/truststoreVersion', value: version }] }),
    );
    const done = await this.waitRest(name, r);
    return done.mutualTlsAuthentication?.truststoreWarnings ?? [];
  }

  private async waitRest(name: string, d: RestDomain): Promise<RestDomain> {
    return this.waitUntil(name, d, (x) => !x.domainNameStatus || x.domainNameStatus === 'AVAILABLE', () => this.o.rest.send(new GetRestDomain({ domainName: name })), (x) => x.domainNameStatus);
  }

  private async pointHttp(name: string, uri: string, version: string): Promise<string[] | undefined> {
    let d: HttpDomain = await this.o.http.send(new GetHttpDomain({ DomainName: name }));
    const m = d.MutualTlsAuthentication;
    this.check(name, m?.TruststoreUri, uri, `aws apigatewayv2 update-domain-name --domain-name ${name} --domain-name-configurations <existing> --mutual-tls-authentication TruststoreUri=${uri}`);
    if (m?.TruststoreVersion === version) return undefined;
    // While UPDATING a domain cannot be modified (aws-facts: API Gateway mutual TLS).
    d = await this.waitHttp(name, d);
    await this.o.http.send(
      new UpdateHttpDomain({
        DomainName: name,
        // Sent along: an update without the existing configurations has been seen to fail (aws-facts).
        DomainNameConfigurations: (d.DomainNameConfigurations ?? []).map(writableConfiguration),
        MutualTlsAuthentication: { TruststoreUri: uri, TruststoreVersion: version },
      }),
    );
    const done = await this.waitHttp(name, await this.o.http.send(new GetHttpDomain({ DomainName: name })));
    return done.MutualTlsAuthentication?.TruststoreWarnings ?? [];
  }

  private async waitHttp(name: string, d: HttpDomain): Promise<HttpDomain> {
    const status = (x: HttpDomain) => x.DomainNameConfigurations?.find((c) => c.DomainNameStatus && c.DomainNameStatus !== 'AVAILABLE')?.DomainNameStatus;
    return this.waitUntil(name, d, (x) => !status(x), () => this.o.http.send(new GetHttpDomain({ DomainName: name })), status);
  }

  private async waitUntil<T>(name: string, first: T, ready: (x: T) => boolean, fetch: () => Promise<T>, status: (x: T) => string | undefined): Promise<T> {
    let cur = first;
    let waited = 0;
    let interval = this.pollIntervalMs;
    while (!ready(cur)) {
      if (waited >= this.maxWaitMs) {
        throw storageError(`API Gateway domain ${name} is still ${status(cur)} after ${Math.round(waited / 1000)} s`, 're-run later: the command finishes the publication');
      }
      await this.sleep(interval);
      waited += interval;
      interval = Math.min(Math.round(interval * 1.5), 15_000);
      cur = await fetch();
    }
    return cur;
  }
}

/** The fields of a domain configuration that UpdateDomainName accepts (the rest are read-only). */
function writableConfiguration(c: DomainNameConfiguration): DomainNameConfiguration {
  const { CertificateArn, CertificateName, EndpointType, SecurityPolicy, OwnershipVerificationCertificateArn, IpAddressType } = c;
  return Object.fromEntries(
    Object.entries({ CertificateArn, CertificateName, EndpointType, SecurityPolicy, OwnershipVerificationCertificateArn, IpAddressType }).filter(([, v]) => v !== undefined),
  ) as DomainNameConfiguration;
}
