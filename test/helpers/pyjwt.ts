import { spawnSync } from 'node:child_process';
import { VENV_PYTHON } from './moto.js';

/**
 * Verifies an access token with PyJWT, an implementation that is not ours, against a published JWKS: ES256 only,
 * `typ` at+jwt, exact `iss` and `aud`, required claims (RFC 9068 section 4). `now` (epoch seconds) replaces the
 * system clock for exp/iat checks (PyJWT reads the clock itself, so exp is checked here against `now`).
 */
const SCRIPT = String.raw`
import json, sys, jwt
req = json.load(sys.stdin)
try:
    header = jwt.get_unverified_header(req["token"])
    if header.get("typ") != "at+jwt":
        raise Exception("typ is not at+jwt: %r" % header.get("typ"))
    jwks = jwt.PyJWKSet.from_dict(req["jwks"])
    keys = [k for k in jwks.keys if k.key_id == header.get("kid")]
    if not keys:
        raise Exception("kid %r not in the JWKS" % header.get("kid"))
    claims = jwt.decode(req["token"], keys[0].key, algorithms=["ES256"], audience=req["audience"], issuer=req["issuer"],
        options={"require": ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"], "verify_exp": False, "verify_iat": False})
    now = req.get("now")
    if now is not None and not (claims["iat"] <= now < claims["exp"]):
        raise Exception("expired or not yet valid at %r" % now)
    print(json.dumps({"ok": True, "header": header, "claims": claims}))
except Exception as e:
    print(json.dumps({"ok": False, "error": "%s: %s" % (type(e).__name__, e)}))
`;

export interface PyJwtResult {
  ok: boolean;
  header?: Record<string, unknown>;
  claims?: Record<string, any>;
  error?: string;
}

export function pyjwtVerify(token: string, jwks: unknown, o: { audience: string; issuer: string; now?: number }): PyJwtResult {
  const r = spawnSync(VENV_PYTHON, ['-c', SCRIPT], { input: JSON.stringify({ token, jwks, ...o }), encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`PyJWT check failed to run: ${r.stderr}`);
  return JSON.parse(r.stdout) as PyJwtResult;
}
