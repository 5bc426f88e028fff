import { invalidInput } from '../../domain/errors.js';

/** An API Gateway custom domain the truststore is published to: a REST (apigateway) or HTTP (apigatewayv2) API's. */
export interface DomainSetting {
  name: string;
  type: 'rest' | 'http';
}

/**
 * Parses `name[:rest|http]` (REST when the type is left out), as `--domain` and `CA_AWS_DOMAINS` write it.
 * @throws CaError invalidInput naming `what` (the flag or variable) on anything else
 */
export function parseDomainSpec(spec: string, what: string): DomainSetting {
  const [name, type = 'rest', ...rest] = spec.trim().split(':');
  if (!name || rest.length || (type !== 'rest' && type !== 'http')) throw invalidInput(`invalid domain ${JSON.stringify(spec)} in ${what}`, 'use name:rest or name:http (comma-separated in CA_AWS_DOMAINS)');
  return { name, type };
}
