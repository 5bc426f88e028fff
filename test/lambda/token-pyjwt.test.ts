/**
 * The token modes judged by an implementation that is not ours: PyJWT (with cryptography) signs ES256, RS256 and
 * HS256 tokens — and computes the RFC 8705 thumbprint of the certificate itself — which the authorizer must
 * accept; and PyJWT verifies the tokens we refuse, with the same rules, and refuses them too.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { createAuthorizer } from '../../src/lambda/authorizer.js';
import type { AuthorizerResponse } from '../../src/lambda/event.js';
import { loadTokenVerifier } from '../../src/lambda/token-loader.js';
import { TOKEN_DEFAULTS } from '../../src/lambda/config.js';
import type { TokenSettings } from '../../src/lambda/token-verifier.js';
import type { CertificateRecord } from '../../src/ports.js';
import { VENV_PYTHON } from '../helpers/moto.js';
import { makePki, type TestPki } from './pki.js';
import { clientCertOf, eventToken, eventV2, withAuthorization } from './events.js';
import { AUDIENCE, ISSUER, accessToken, jwt, keySetOf, signingKey, thumbprintOf, unsecured } from './tokens.js';

const SIGN = String.raw`
import json, sys, time, hashlib, base64
import jwt
from jwt.algorithms import ECAlgorithm, RSAAlgorithm
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
inp = json.load(sys.stdin)
now = int(time.time())
cert = x509.load_pem_x509_certificate(inp["certPem"].encode())
x5t = base64.urlsafe_b64encode(hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).digest()).rstrip(b"=").decode()
eck = ec.generate_private_key(ec.SECP256R1())
rsk = rsa.generate_private_key(public_exponent=65537, key_size=2048)
ec_jwk = json.loads(ECAlgorithm.to_jwk(eck.public_key())); ec_jwk.update(kid="py-ec", alg="ES256", use="sig")
rs_jwk = json.loads(RSAAlgorithm.to_jwk(rsk.public_key())); rs_jwk.update(kid="py-rs", alg="RS256", use="sig")
access = jwt.encode({"iss": inp["iss"], "sub": inp["clientId"], "aud": inp["aud"], "client_id": inp["clientId"], "iat": now, "exp": now + 300,
                     "jti": "py-1", "scope": "orders:read", "cnf": {"x5t#S256": x5t}}, eck, algorithm="ES256", headers={"kid": "py-ec", "typ": "at+jwt"})
plain = {"iss": inp["iss"], "aud": inp["aud"], "sub": "svc-py", "iat": now, "exp": now + 300}
rs = jwt.encode(plain, rsk, algorithm="RS256", headers={"kid": "py-rs"})
hs = jwt.encode(plain, inp["secret"].encode(), algorithm="HS256")
expired = jwt.encode({**plain, "exp": now - 10, "iat": now - 100}, rsk, algorithm="RS256", headers={"kid": "py-rs"})
print(json.dumps({"x5t": x5t, "jwks": {"keys": [ec_jwk, rs_jwk]}, "access": access, "rs": rs, "hs": hs, "expired": expired}))
`;

const VERIFY = String.raw`
import json, sys
import jwt
inp = json.load(sys.stdin)
key = jwt.PyJWK(inp["jwk"], algorithm="ES256")
out = []
for t in inp["tokens"]:
    try:
        h = jwt.get_unverified_header(t)
        c = jwt.decode(t, key, algorithms=["ES256"], audience=inp["aud"], issuer=inp["iss"], options={"require": ["exp", "iat", "jti", "sub", "client_id", "cnf"]})
        ok = h.get("typ") == "at+jwt" and c["cnf"]["x5t#S256"] == inp["x5t"] and c["client_id"] == inp["clientId"]
        out.append("ok" if ok else "refused: binding")
    except Exception as e:
        out.append("refused: " + type(e).__name__)
print(json.dumps(out))
`;

const py = (script: string, input: object) => JSON.parse(execFileSync(VENV_PYTHON, ['-c', script], { input: JSON.stringify(input), encoding: 'utf8', timeout: 30_000 })) as any;
const allowed = (r: AuthorizerResponse) => ('isAuthorized' in r ? r.isAuthorized : r.policyDocument.Statement.every((s) => s.Effect === 'Allow'));

let pki: TestPki;
let alice: CertificateRecord;
const SECRET = 'an-hs256-secret-of-at-least-32-bytes!';

beforeAll(async () => {
  pki = await makePki({ name: 'ca-token-pyjwt' });
  alice = (await pki.issue('alice')).record;
}, 60_000);
afterAll(() => pki?.cleanup());

function authz(mode: TokenSettings['mode'], o: { keySet?: unknown; secret?: string }) {
  const settings: TokenSettings = { mode, issuer: ISSUER, audience: AUDIENCE, ...TOKEN_DEFAULTS };
  const token = loadTokenVerifier(settings, {
    ...(o.keySet ? { keySet: async () => o.keySet } : {}),
    ...(o.secret ? { secrets: async () => ({ current: new TextEncoder().encode(o.secret) }) } : {}),
  });
  return createAuthorizer({ registry: pki.store.registry, config: { cacheTtlMs: 0, mode }, log: () => {}, token });
}

describe('tokens signed by PyJWT', () => {
  it('an ES256 access token bound to the certificate by a thumbprint PyJWT computed is accepted in mtls+token mode', async () => {
    const p = py(SIGN, { certPem: alice.certificatePem, clientId: 'alice', iss: ISSUER, aud: AUDIENCE, secret: SECRET });
    expect(p.x5t).toBe(thumbprintOf(alice.certificatePem));
    const run = authz('mtls+token', { keySet: { keys: [p.jwks.keys[0]] } });
    const r = await run(withAuthorization(eventV2(clientCertOf(alice.certificatePem)), `Bearer ${p.access}`));
    expect(allowed(r), JSON.stringify(r.context)).toBe(true);
    expect(r.context).toMatchObject({ clientId: 'alice', tokenId: 'py-1', scope: 'orders:read' });
  });

  it('an RS256 token is accepted in jwt-jwks mode, an HS256 one in jwt-hs256 mode; an expired one and the crossed algorithms are refused', async () => {
    const p = py(SIGN, { certPem: alice.certificatePem, clientId: 'alice', iss: ISSUER, aud: AUDIENCE, secret: SECRET });
    const jwks = authz('jwt-jwks', { keySet: p.jwks });
    const hs = authz('jwt-hs256', { secret: SECRET });
    expect(allowed(await jwks(eventToken(`Bearer ${p.rs}`)))).toBe(true);
    expect(allowed(await hs(eventToken(`Bearer ${p.hs}`)))).toBe(true);
    expect((await jwks(eventToken(`Bearer ${p.expired}`))).context.reason).toBe('token_expired');
    expect((await jwks(eventToken(`Bearer ${p.hs}`))).context.reason).toBe('token_algorithm_not_allowed');
    expect((await hs(eventToken(`Bearer ${p.rs}`))).context.reason).toBe('token_algorithm_not_allowed');
  });
});

describe('tokens we refuse', () => {
  it('are refused by PyJWT with the same rules, and the one we accept is accepted by it', async () => {
    const key = await signingKey('k-py');
    const nowS = Math.floor(Date.now() / 1000);
    const base = { clientId: 'alice', certPem: alice.certificatePem, nowS };
    const claims = { iss: ISSUER, aud: AUDIENCE, sub: 'alice', client_id: 'alice', iat: nowS, exp: nowS + 60, jti: 'j', cnf: { 'x5t#S256': thumbprintOf(alice.certificatePem) } };
    const bob = (await pki.issue('bob-py')).record;
    const tokens = {
      good: await accessToken(key, base),
      expired: await accessToken(key, { ...base, over: { exp: nowS - 10, iat: nowS - 100 } }),
      wrongAud: await accessToken(key, { ...base, over: { aud: 'https://other.example.test' } }),
      wrongIss: await accessToken(key, { ...base, over: { iss: 'https://evil.example.test' } }),
      noJti: await accessToken(key, { ...base, over: { jti: undefined } }),
      otherCert: await accessToken(key, { ...base, certPem: bob.certificatePem }),
      none: unsecured(claims, { typ: 'at+jwt', kid: 'k-py' }),
      confusion: await jwt(new TextEncoder().encode(JSON.stringify(key.jwk)), { alg: 'HS256', typ: 'at+jwt', kid: 'k-py' }, claims),
    };
    const run = authz('mtls+token', { keySet: keySetOf(key) });
    const ours: Record<string, boolean> = {};
    for (const [name, t] of Object.entries(tokens)) ours[name] = allowed(await run(withAuthorization(eventV2(clientCertOf(alice.certificatePem)), `Bearer ${t}`)));
    const theirs = py(VERIFY, { jwk: key.jwk, tokens: Object.values(tokens), aud: AUDIENCE, iss: ISSUER, x5t: thumbprintOf(alice.certificatePem), clientId: 'alice' }) as string[];
    const verdicts = Object.fromEntries(Object.keys(tokens).map((n, i) => [n, theirs[i] === 'ok']));
    expect(ours).toEqual(verdicts);
    expect(Object.entries(ours).filter(([, ok]) => ok).map(([n]) => n)).toEqual(['good']);
  });
});
