/**
 * SPIFFE ID rules (SPIFFE ID specification §2): `spiffe://<trust domain>/<path>`, a lowercase trust domain of
 * letters, digits, `.`, `-`, `_`; path segments of letters, digits, `.`, `-`, `_`, none empty, `.` or `..`.
 * Pure, no imports: the Lambda authorizer and the CLI share it.
 */

/** A trust domain name: lowercase letters, digits, '.', '_' and '-' (SPIFFE ID §2.1). */
export const TRUST_DOMAIN = /^[a-z0-9._-]{1,255}$/;

const SEGMENT = /^[A-Za-z0-9._-]+$/;
/** SPIFFE ID §2.3: a SPIFFE ID is at most 2048 bytes */
const MAX_LENGTH = 2048;

/** The trust domain and path of a SPIFFE ID, or undefined when `id` is not one (any deviation from §2). */
export function parseSpiffeId(id: unknown): { trustDomain: string; path: string } | undefined {
  if (typeof id !== 'string' || id.length > MAX_LENGTH || !id.startsWith('spiffe://')) return undefined;
  const rest = id.slice('spiffe://'.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash);
  if (!TRUST_DOMAIN.test(trustDomain)) return undefined;
  if (path !== '') {
    const segments = path.slice(1).split('/');
    if (segments.some((s) => !SEGMENT.test(s) || s === '.' || s === '..')) return undefined;
  }
  return { trustDomain, path };
}
