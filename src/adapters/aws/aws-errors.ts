import { CaError, storageError } from '../../domain/errors.js';

/** The fields of an AWS SDK v3 service exception this module reads (no SDK import: the authorizer bundles it). */
interface AwsLikeError {
  name?: string;
  message?: string;
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

const CREDENTIAL_ERRORS = new Set(['ExpiredToken', 'ExpiredTokenException', 'TokenRefreshRequired', 'RequestExpired', 'InvalidClientTokenId', 'UnrecognizedClientException', 'InvalidSignatureException', 'SignatureDoesNotMatch']);
const ACCESS_ERRORS = new Set(['AccessDenied', 'AccessDeniedException', 'UnauthorizedOperation', 'Forbidden', 'KMSAccessDeniedException']);
const THROTTLING_ERRORS = new Set(['ThrottlingException', 'Throttling', 'TooManyRequestsException', 'ProvisionedThroughputExceededException', 'RequestLimitExceeded', 'SlowDown', 'LimitExceededException']);

/** True for errors worth retrying with backoff. */
export function isThrottling(e: unknown): boolean {
  return THROTTLING_ERRORS.has((e as AwsLikeError)?.name ?? '');
}

export function errorName(e: unknown): string {
  return (e as AwsLikeError)?.name ?? '';
}

/**
 * Translates an AWS SDK failure into a CaError at the adapter boundary: one line naming `resource`
 * (`DynamoDB table ca-prod`), a hint saying what to do. `specific` handles the service's own error names first.
 */
export function awsError(e: unknown, verb: string, resource: string, specific?: (name: string) => CaError | undefined): CaError {
  if (e instanceof CaError) return e;
  const err = (e ?? {}) as AwsLikeError;
  const name = err.name ?? '';
  const own = specific?.(name);
  if (own) {
    Object.defineProperty(own, 'cause', { value: e, enumerable: false });
    return own;
  }
  const msg = (err.message ?? String(e)).split('\n')[0];
  if (CREDENTIAL_ERRORS.has(name)) {
    const expired = /expire/i.test(name + msg);
    return storageError(
      expired ? 'AWS credentials expired' : `AWS rejected the credentials while trying to ${verb} ${resource}: ${msg}`,
      expired ? 'refresh them (`aws sso login`, or assume the role again) and re-run' : 'check AWS_PROFILE / AWS_ACCESS_KEY_ID and the region',
      e,
    );
  }
  if (name === 'CredentialsProviderError' || /Could not load credentials/i.test(msg)) {
    return storageError('no AWS credentials found', 'configure credentials (AWS_PROFILE, `aws sso login`, or the CI role) and re-run', e);
  }
  if (ACCESS_ERRORS.has(name) || err.$metadata?.httpStatusCode === 403) {
    return storageError(`access denied: cannot ${verb} ${resource}`, 'grant the permission to the role running ca (see templates/iam/ca-cli-policy.json)', e);
  }
  if (THROTTLING_ERRORS.has(name)) {
    return storageError(`AWS throttled requests to ${resource} (${verb})`, 'wait a minute and re-run: the command resumes where it stopped', e);
  }
  if (err.code === 'ECONNREFUSED' || err.code === 'ENOTFOUND' || err.code === 'ETIMEDOUT' || name === 'TimeoutError') {
    return storageError(`cannot reach the AWS endpoint to ${verb} ${resource}: ${msg}`, 'check the network, the region and any AWS_ENDPOINT_URL setting', e);
  }
  return storageError(`failed to ${verb} ${resource}: ${name ? `${name}: ` : ''}${msg}`, undefined, e);
}

