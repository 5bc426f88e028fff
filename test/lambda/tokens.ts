/**
 * Access tokens and key sets made with jose as the token service makes them (src/domain/token-claims.ts): ES256,
 * `typ: at+jwt`, `kid`; RFC 9068 claims and the RFC 8705 `cnf` of a client certificate.
 */
import { X509Certificate, randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { certificateThumbprint, type AccessTokenClaims } from '../../src/domain/token-claims.js';

export const ISSUER = 'https://auth.example.test';
export const AUDIENCE = 'https://api.example.test';

export interface SigningKey {
  kid: string;
  alg: string;
  privateKey: CryptoKey;
  /** the public JWK as published: kid, alg, use sig */
  jwk: JWK;
}

export async function signingKey(kid: string = randomUUID(), alg = 'ES256', o: { use?: string | null } = {}): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const jwk = { ...(await exportJWK(publicKey)), kid, alg };
  if (o.use !== null) jwk.use = o.use ?? 'sig';
  return { kid, alg, privateKey, jwk };
}

export const keySetOf = (...keys: SigningKey[]) => ({ keys: keys.map((k) => k.jwk) });

export const thumbprintOf = (pem: string) => certificateThumbprint(new X509Certificate(pem).raw);

/** An access token for `clientId` bound to `certPem`, valid from `nowS` for `ttlS` seconds; `over` replaces claims. */
export async function accessToken(
  key: SigningKey,
  o: { clientId: string; certPem: string; nowS: number; ttlS?: number; scope?: string; over?: Partial<Record<keyof AccessTokenClaims | 'nbf', unknown>>; header?: Record<string, unknown> },
): Promise<string> {
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    sub: o.clientId,
    aud: AUDIENCE,
    client_id: o.clientId,
    iat: o.nowS,
    exp: o.nowS + (o.ttlS ?? 300),
    jti: randomUUID(),
    scope: o.scope ?? 'orders:read',
    cnf: { 'x5t#S256': thumbprintOf(o.certPem) },
    ...o.over,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return new SignJWT(claims).setProtectedHeader({ alg: key.alg, typ: 'at+jwt', kid: key.kid, ...o.header }).sign(key.privateKey);
}

/** A JWT with any claims and header, signed with `key` (a private CryptoKey or an HMAC secret). */
export async function jwt(key: CryptoKey | Uint8Array, header: Record<string, unknown> & { alg: string }, claims: Record<string, unknown>): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

/** `alg: none`: header and claims, empty signature (RFC 7519 §6.1). */
export function unsecured(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  return `${b64({ alg: 'none', ...header })}.${b64(claims)}.`;
}
