import { usageError } from '../../domain/errors.js';

/**
 * Validates an SSM parameter path prefix and returns it without a trailing slash. SSM refuses hierarchical
 * names whose first segment begins with `aws` or `ssm` (any case), and names must be fully qualified
 * (start with `/`) and use only a-zA-Z0-9_.- between slashes (SSM PutParameter, Name constraints).
 * @throws CaError usage naming the setting
 */
export function validateParameterPrefix(prefix: string | undefined): string {
  if (prefix === undefined || prefix === '') throw usageError('parameterPrefix is not set: the SSM parameters need a path such as /ca/prod', 'set `parameterPrefix` in the configuration');
  const p = prefix.replace(/\/+$/, '');
  if (!p.startsWith('/') || p === '') throw usageError(`parameterPrefix ${JSON.stringify(prefix)} must start with / (e.g. /ca/prod)`);
  const segments = p.slice(1).split('/');
  if (segments.some((s) => s === '' || !/^[A-Za-z0-9_.-]+$/.test(s))) {
    throw usageError(`parameterPrefix ${JSON.stringify(prefix)} is not a valid SSM path: use segments of a-z A-Z 0-9 _ . - separated by single slashes`);
  }
  if (/^(aws|ssm)/i.test(segments[0]!)) {
    throw usageError(`parameterPrefix ${JSON.stringify(prefix)} is reserved: SSM refuses parameter names whose first segment begins with "aws" or "ssm"`, 'choose another path, e.g. /ca/prod');
  }
  if (segments.length > 10) throw usageError(`parameterPrefix ${JSON.stringify(prefix)} is too deep: SSM allows at most 15 levels and ca adds up to 3`);
  return p;
}
