/**
 * Client settings shared by the AWS adapters. Credentials come from the SDK's default provider chain;
 * endpoints from AWS_ENDPOINT_URL / AWS_ENDPOINT_URL_<SERVICE>, which SDK v3 reads natively
 * (@smithy/core getEndpointUrlConfig), so nothing here overrides them.
 */
export interface SdkConfig {
  region: string;
}

/** Whether an endpoint override is in force for a service (env names as the SDK derives them from the service id). */
export function endpointOverridden(serviceEnvSuffix: string): boolean {
  return !!(process.env[`AWS_ENDPOINT_URL_${serviceEnvSuffix}`] || process.env.AWS_ENDPOINT_URL);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Exponential backoff with full jitter, capped. */
export function backoffMs(attempt: number, baseMs = 50, capMs = 5_000): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}
