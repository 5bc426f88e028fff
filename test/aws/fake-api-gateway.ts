import { createServer, type IncomingMessage, type Server } from 'node:http';

/**
 * A loopback stand-in for the API Gateway custom-domain endpoints (v1 REST `/domainnames/{name}`, v2 HTTP
 * `/v2/domainnames/{name}`), used because moto 5.2.5 models neither mutual TLS on domain names nor
 * UpdateDomainName. The real SDK clients talk to it over HTTP (AWS_ENDPOINT_URL_API_GATEWAY /
 * AWS_ENDPOINT_URL_APIGATEWAYV2); it behaves as documented: a v2 update leaves the domain UPDATING for a
 * few polls, truststore warnings come back in the domain's mutual TLS block.
 */
export interface FakeDomain {
  type: 'rest' | 'http';
  truststoreUri?: string;
  truststoreVersion?: string;
  /** warnings API Gateway will report after the next update */
  warnOnUpdate?: string[];
  warnings?: string[];
  /** GETs that still report UPDATING after an update (v2 only) */
  updatingPolls?: number;
  pendingPolls?: number;
  updates: unknown[];
}

export interface FakeApiGateway {
  endpoint: string;
  domains: Map<string, FakeDomain>;
  add(name: string, d: Omit<FakeDomain, 'updates'>): FakeDomain;
  close(): Promise<void>;
}

async function body(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : {};
}

const CONFIG = { certificateArn: 'arn:aws:acm:us-east-1:123456789012:certificate/abc', endpointType: 'REGIONAL', securityPolicy: 'TLS_1_2', apiGatewayDomainName: 'd-123.execute-api.us-east-1.amazonaws.com', hostedZoneId: 'Z1' };

export async function startFakeApiGateway(): Promise<FakeApiGateway> {
  const domains = new Map<string, FakeDomain>();
  const restView = (name: string, d: FakeDomain) => ({
    domainName: name,
    domainNameStatus: 'AVAILABLE',
    regionalCertificateArn: CONFIG.certificateArn,
    endpointConfiguration: { types: ['REGIONAL'] },
    ...(d.truststoreUri ? { mutualTlsAuthentication: { truststoreUri: d.truststoreUri, truststoreVersion: d.truststoreVersion, truststoreWarnings: d.warnings ?? [] } } : {}),
  });
  const httpView = (name: string, d: FakeDomain) => {
    const updating = (d.pendingPolls ?? 0) > 0;
    if (updating) d.pendingPolls!--;
    return {
      domainName: name,
      domainNameConfigurations: [{ ...CONFIG, domainNameStatus: updating ? 'UPDATING' : 'AVAILABLE' }],
      ...(d.truststoreUri ? { mutualTlsAuthentication: { truststoreUri: d.truststoreUri, truststoreVersion: d.truststoreVersion, truststoreWarnings: d.warnings ?? [] } } : {}),
    };
  };
  const server: Server = createServer(async (req, res) => {
    const send = (status: number, doc: unknown, errorType?: string) => {
      res.writeHead(status, { 'content-type': 'application/json', ...(errorType ? { 'x-amzn-errortype': errorType } : {}) });
      res.end(JSON.stringify(doc));
    };
    const m = /^\/(v2\/)?domainnames\/([^/?]+)/.exec(req.url ?? '');
    const name = m ? decodeURIComponent(m[2]!) : '';
    const d = domains.get(name);
    const v2 = !!m?.[1];
    if (!m || !d || (d.type === 'http') !== v2) return send(404, { message: `Invalid domain name identifier specified` }, 'NotFoundException');
    if (req.method === 'GET') return send(200, v2 ? httpView(name, d) : restView(name, d));
    if (req.method === 'PATCH') {
      const b = await body(req);
      d.updates.push(b);
      if (v2) {
        const mtls = b.mutualTlsAuthentication as { truststoreUri?: string; truststoreVersion?: string } | undefined;
        if (!Array.isArray(b.domainNameConfigurations) || !b.domainNameConfigurations.length) return send(400, { message: 'DomainNameConfigurations are required' }, 'BadRequestException');
        d.truststoreUri = mtls?.truststoreUri;
        d.truststoreVersion = mtls?.truststoreVersion;
        d.pendingPolls = d.updatingPolls ?? 0;
      } else {
        for (const op of (b.patchOperations ?? []) as { op: string; path: string; value: string }[]) {
          if (op.op === 'replace' && op.path === '/mutualTlsAuthentication/truststoreVersion') d.truststoreVersion = op.value;
          else if (op.op === 'replace' && op.path === '/mutualTlsAuthentication/truststoreUri') d.truststoreUri = op.value;
          else return send(400, { message: `Invalid patch path ${op.path}` }, 'BadRequestException');
        }
      }
      d.warnings = d.warnOnUpdate ?? [];
      return send(200, v2 ? { ...httpView(name, d), domainNameConfigurations: [{ ...CONFIG, domainNameStatus: 'UPDATING' }] } : restView(name, d));
    }
    send(405, { message: 'method not allowed' });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    domains,
    add(name, d) {
      const full = { ...d, updates: [] };
      domains.set(name, full);
      return full;
    },
    close: () => new Promise((r) => server.close(() => r())),
  };
}
