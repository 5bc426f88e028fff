"""PyJWT signing the same access token claims (ES256, P-256 key in memory) for N seconds on one thread.

Usage: token_sign.py <claims.json> <seconds>. Prints one JSON line: {"perSec": ..., "pyjwt": version}.
"""
import json
import sys
import time

import jwt
from cryptography.hazmat.primitives.asymmetric import ec


def main() -> None:
    claims = json.load(open(sys.argv[1]))
    seconds = float(sys.argv[2])
    key = ec.generate_private_key(ec.SECP256R1())
    headers = {"typ": "at+jwt", "kid": "bench"}
    for _ in range(200):
        jwt.encode(claims, key, algorithm="ES256", headers=headers)
    n = 0
    t0 = time.perf_counter()
    end = t0 + seconds
    while time.perf_counter() < end:
        jwt.encode(claims, key, algorithm="ES256", headers=headers)
        n += 1
    print(json.dumps({"perSec": n / (time.perf_counter() - t0), "pyjwt": jwt.__version__}))


main()
