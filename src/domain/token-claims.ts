/**
 * The access token's shape, shared by the token service that issues it and the authorizer that checks it
 * (one home): an RFC 9068 JWT access token bound to the client's certificate (RFC 8705 §3.1).
 */
import { createHash } from 'node:crypto';

/** JOSE header of every access token: ES256 (P-256 key in custody), RFC 9068 §2.1 `typ`. */
export interface AccessTokenHeader {
  alg: 'ES256';
  typ: 'at+jwt';
  kid: string;
}

/** RFC 9068 §2.2 claims, plus the RFC 8705 §3.1 confirmation of the certificate the token was issued to. */
export interface AccessTokenClaims {
  iss: string;
  /** the client id: client credentials grants have no resource owner (RFC 9068 §2.2) */
  sub: string;
  aud: string | string[];
  client_id: string;
  iat: number;
  exp: number;
  jti: string;
  /** space-separated granted scopes (RFC 6749 §3.3) */
  scope: string;
  cnf: { 'x5t#S256': string };
}

/** `typ` header value of an access token (RFC 9068 §2.1); verifiers refuse anything else. */
export const ACCESS_TOKEN_TYPE = 'at+jwt';

/** Partition key of the registry item that holds the published token key set (attribute `jwks`, a JSON string). */
export const TOKEN_JWKS_KEY = 'TOKEN#JWKS';

/** RFC 8705 §3.1 `x5t#S256`: base64url (no padding) of the SHA-256 of the certificate's DER. */
export function certificateThumbprint(der: Uint8Array): string {
  return createHash('sha256').update(der).digest('base64url');
}
