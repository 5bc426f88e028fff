"""Issues client certificates with Python's `cryptography` package, the same profile as `ca` (P-256 issuer,
client: basicConstraints cA=false critical, keyUsage digitalSignature critical, EKU clientAuth, SKI, AKI),
for the same three workloads. Prints one JSON line: {"a": certs/s, "b": ..., "c": ..., "n": {...}}.

Usage: python issuance.py SECONDS_PER_WORKLOAD
"""
import datetime
import json
import os
import sys
import time

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 2.0
NOW = datetime.datetime.now(datetime.timezone.utc)


def ca(name, issuer_key=None, issuer_cert=None):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Org"), x509.NameAttribute(NameOID.COMMON_NAME, name)])
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_cert.subject if issuer_cert else subject)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(os.urandom(16), "big") >> 1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=1000))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0 if issuer_cert else None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(ski, critical=False)
    )
    signer = issuer_key or key
    return key, b.sign(signer, hashes.SHA256())


ROOT_KEY, ROOT = ca("Bench Root")
INTER_KEY, INTER = ca("Bench Issuing", ROOT_KEY, ROOT)
INTER2_KEY, INTER2 = ca("Bench Issuing 2", ROOT_KEY, ROOT)


def issue(public_key, client_id, issuer_key, issuer_cert):
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
        issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Bench Org"), x509.NameAttribute(NameOID.COMMON_NAME, client_id)]))
        .issuer_name(issuer_cert.subject)
        .public_key(public_key)
        .serial_number(int.from_bytes(os.urandom(16), "big") >> 1)
        .not_valid_before(NOW)
        .not_valid_after(NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(aki, critical=False)
        .sign(issuer_key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def run(work):
    n = 0
    start = time.perf_counter()
    while True:
        work(n)
        n += 1
        if n % 50 == 0 and time.perf_counter() - start >= SECONDS:
            return n, time.perf_counter() - start


def a(i):
    key = ec.generate_private_key(ec.SECP256R1())
    issue(key.public_key(), f"client-{i}", INTER_KEY, INTER)
    key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


PUBLIC_KEYS = [ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(256)]


def b(i):
    issue(PUBLIC_KEYS[i % 256], f"client-{i}", INTER_KEY, INTER)


def c(i):
    issue(PUBLIC_KEYS[i % 256], f"client-{i}", INTER2_KEY, INTER2)


out = {"n": {}}
for name, work in (("a", a), ("b", b), ("c", c)):
    n, secs = run(work)
    out[name] = n / secs
    out["n"][name] = n
print(json.dumps(out))
