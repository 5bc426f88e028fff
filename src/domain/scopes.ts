/**
 * What a client may ask tokens for, recorded with its certificate: scopes (RFC 6749 §3.3) and audiences
 * (RFC 9068 §3 `aud`). Pure; no imports beyond the error family, so the token handler's bundle includes it.
 */
import type { CertificateRecord } from '../ports.js';
import { invalidInput } from './errors.js';

/** RFC 6749 §3.3 / Appendix A.4: scope-token = 1*NQCHAR, NQCHAR = %x21 / %x23-5B / %x5D-7E. */
const SCOPE_TOKEN = /^[\x21\x23-\x5b\x5d-\x7e]+$/;
/** An audience: a URI or a plain identifier, printable ASCII without spaces, quotes or backslashes. */
const AUDIENCE = /^[\x21\x23-\x5b\x5d-\x7e]{1,256}$/;
export const MAX_SCOPES = 100;
const MAX_SCOPE_LENGTH = 128;

/** Whether `s` is one RFC 6749 scope-token. */
export function isScopeToken(s: string): boolean {
  return s.length <= MAX_SCOPE_LENGTH && SCOPE_TOKEN.test(s);
}

const shown = (s: string) => JSON.stringify(s.length > 60 ? s.slice(0, 60) + '…' : s);

/**
 * Validates a list of scopes: each an RFC 6749 §3.3 scope-token (printable ASCII, no space, `"` or `\`), at most
 * 128 characters, at most 100 of them; duplicates removed, order kept.
 * @throws CaError invalidInput naming the first bad scope
 */
export function validateScopes(what: string, scopes: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const s of scopes) {
    if (typeof s !== 'string') throw invalidInput(`${what}: a scope must be a string, got ${JSON.stringify(s)}`);
    if (!isScopeToken(s)) {
      throw invalidInput(`${what}: invalid scope ${shown(s)}`, 'a scope is 1-128 printable ASCII characters without spaces, " or \\ (RFC 6749 section 3.3)');
    }
    if (!out.includes(s)) out.push(s);
  }
  if (out.length > MAX_SCOPES) throw invalidInput(`${what}: ${out.length} scopes, at most ${MAX_SCOPES}`);
  return out;
}

/**
 * Validates a list of audiences (what the tokens' `aud` names: the resource servers): each 1-256 printable
 * ASCII characters without spaces, `"` or `\`; at most 20; duplicates removed.
 * @throws CaError invalidInput naming the first bad audience
 */
export function validateAudiences(what: string, audiences: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const a of audiences) {
    if (typeof a !== 'string' || !AUDIENCE.test(a)) {
      throw invalidInput(`${what}: invalid audience ${typeof a === 'string' ? shown(a) : JSON.stringify(a)}`, 'an audience is 1-256 printable ASCII characters without spaces, " or \\ (a URI such as https://api.example.com)');
    }
    if (!out.includes(a)) out.push(a);
  }
  if (out.length > 20) throw invalidInput(`${what}: ${out.length} audiences, at most 20`);
  return out;
}

/** Comma- or space-separated flag values (`--scope a,b --scope c`), as one list. */
export function splitList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(/[,\s]+/)).filter((v) => v.length > 0);
}

/** What a client is granted, as recorded: carried by every re-issue of its certificate (one home: see sameKeySpec). */
export interface ClientGrants {
  scopes?: string[];
  audiences?: string[];
}

/** The grants of a record, only the fields it has (so a record without grants stays as it was). */
export function grantsOf(r: Pick<CertificateRecord, 'scopes' | 'audiences'>): ClientGrants {
  return { ...(r.scopes?.length ? { scopes: [...r.scopes] } : {}), ...(r.audiences?.length ? { audiences: [...r.audiences] } : {}) };
}

export type ScopeEdit = { set: string[] } | { add: string[] } | { remove: string[] };

/** The scope list after an edit, order kept (added ones at the end). */
export function editScopes(current: readonly string[] | undefined, edit: ScopeEdit): string[] {
  const now = [...(current ?? [])];
  if ('set' in edit) return [...edit.set];
  if ('add' in edit) return [...now, ...edit.add.filter((s) => !now.includes(s))];
  return now.filter((s) => !edit.remove.includes(s));
}
