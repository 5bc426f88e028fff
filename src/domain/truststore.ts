import { X509Certificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';

import type { CaState } from './ca-state.js';
import { trustedIntermediates } from './ca-state.js';
import { certificateFacts } from './certificate.js';
import { pemBlocks } from './der.js';
import { DAY_MS } from './policy.js';

/** The truststore API Gateway gets: every trusted intermediate (issuing one first), then the root. */
export function buildTruststore(s: CaState): string {
  if (!s.root) return '';
  return [...trustedIntermediates(s), s.root].map((r) => r.certificatePem.trim() + '\n').join('');
}

/** Signature algorithms API Gateway accepts in a truststore: SHA-256 or stronger, RSA PKCS#1 or ECDSA. */
const ACCEPTED_SIGNATURES: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'sha256WithRSAEncryption',
  '1.2.840.113549.1.1.12': 'sha384WithRSAEncryption',
  '1.2.840.113549.1.1.13': 'sha512WithRSAEncryption',
  '1.2.840.10045.4.3.2': 'ecdsa-with-SHA256',
  '1.2.840.10045.4.3.3': 'ecdsa-with-SHA384',
  '1.2.840.10045.4.3.4': 'ecdsa-with-SHA512',
};
const KNOWN_WEAK: Record<string, string> = {
  '1.2.840.113549.1.1.5': 'sha1WithRSAEncryption',
  '1.2.840.113549.1.1.4': 'md5WithRSAEncryption',
  '1.2.840.10045.4.1': 'ecdsa-with-SHA1',
  '1.2.840.113549.1.1.10': 'RSASSA-PSS',
  '1.3.101.112': 'Ed25519',
  '1.3.101.113': 'Ed448',
};

/** API Gateway: at most four CA certificates in any chain (aws-facts, API Gateway mutual TLS). */
export const MAX_CHAIN_DEPTH = 4;

export interface TruststoreEntry {
  index: number;
  subject: string;
  issuer: string;
  serial: string;
  fingerprint: string;
  notBefore: string;
  notAfter: string;
  role: 'root' | 'intermediate' | 'not-a-ca';
  /** CA certificates from this one up to its root, itself included; 0 when the chain is incomplete */
  depth: number;
}

export interface TruststoreReport {
  ok: boolean;
  entries: TruststoreEntry[];
  violations: string[];
  warnings: string[];
}

function keyProblem(x: X509Certificate): string | undefined {
  const k = x.publicKey;
  const d = k.asymmetricKeyDetails ?? {};
  if (k.asymmetricKeyType === 'rsa') return (d.modulusLength ?? 0) < 2048 ? `RSA key of ${d.modulusLength} bits (at least 2048 required)` : undefined;
  if (k.asymmetricKeyType === 'ec') return ['prime256v1', 'secp384r1', 'secp521r1'].includes(d.namedCurve ?? '') ? undefined : `EC curve ${d.namedCurve} (P-256 or stronger required)`;
  return `${k.asymmetricKeyType} key (only RSA and ECDSA are accepted)`;
}

/**
 * Checks a truststore bundle against API Gateway's rules: parseable PEM, only CA certificates, every chain
 * complete up to a self-signed root, at most four CA levels, SHA-256+ signatures with RSA-2048+/P-256+ keys,
 * inside validity, no duplicates. Warns about anything expiring within `warnDays`.
 */
export function verifyTruststore(pem: string, now: Date, warnDays = 30): TruststoreReport {
  const violations: string[] = [];
  const warnings: string[] = [];
  let ders: Buffer[];
  try {
    ders = pemBlocks(pem, 'CERTIFICATE');
  } catch (e) {
    return { ok: false, entries: [], violations: [`malformed PEM: ${(e as Error).message}`], warnings };
  }
  if (ders.length === 0) return { ok: false, entries: [], violations: ['no certificates found in the truststore'], warnings };

  const certs: { x: X509Certificate; sigOid: string; label: string }[] = [];
  ders.forEach((der, i) => {
    try {
      const x = new X509Certificate(der);
      const sigOid = AsnConvert.parse(der, Certificate).signatureAlgorithm.algorithm;
      certs.push({ x, sigOid, label: `#${i + 1} (${certificateFacts(der).subject})` });
    } catch (e) {
      violations.push(`certificate #${i + 1}: not a parseable X.509 certificate`);
    }
  });

  const seen = new Map<string, string>();
  for (const c of certs) {
    const fp = c.x.fingerprint256;
    if (seen.has(fp)) violations.push(`${c.label} duplicates ${seen.get(fp)}`);
    else seen.set(fp, c.label);
  }

  const issuerOf = (c: (typeof certs)[number]) =>
    certs.find((p) => p !== c && p.x.ca && c.x.checkIssued(p.x) && c.x.verify(p.x.publicKey));
  const selfSigned = (c: (typeof certs)[number]) => c.x.checkIssued(c.x) && c.x.verify(c.x.publicKey);

  const entries: TruststoreEntry[] = certs.map((c, i) => {
    const f = certificateFacts(c.x.raw);
    if (!c.x.ca) violations.push(`${c.label} is not a CA certificate (basicConstraints cA is not set)`);
    const sig = ACCEPTED_SIGNATURES[c.sigOid];
    if (!sig) violations.push(`${c.label} is signed with ${KNOWN_WEAK[c.sigOid] ?? c.sigOid}, which API Gateway does not accept (SHA-256 or stronger with RSA or ECDSA)`);
    const kp = keyProblem(c.x);
    if (kp) violations.push(`${c.label} has an ${kp}`);
    if (f.notAfter.getTime() <= now.getTime()) violations.push(`${c.label} expired on ${f.notAfter.toISOString()}`);
    else if (f.notBefore.getTime() > now.getTime()) violations.push(`${c.label} is not valid before ${f.notBefore.toISOString()}`);
    else if (f.notAfter.getTime() - now.getTime() < warnDays * DAY_MS) {
      warnings.push(`${c.label} expires in ${Math.ceil((f.notAfter.getTime() - now.getTime()) / DAY_MS)} days (${f.notAfter.toISOString()})`);
    }

    // Walk up to a self-signed root; API Gateway needs the whole chain in the bundle.
    let depth = 0;
    let cur: (typeof certs)[number] | undefined = c;
    const visited = new Set<(typeof certs)[number]>();
    while (cur && !visited.has(cur)) {
      visited.add(cur);
      depth++;
      if (selfSigned(cur)) break;
      const up = issuerOf(cur);
      if (!up) {
        violations.push(`${c.label}: chain incomplete, the issuer of ${cur.label} (${certificateFacts(cur.x.raw).issuer}) is not in the truststore`);
        depth = 0;
        break;
      }
      cur = up;
    }
    if (depth > MAX_CHAIN_DEPTH) violations.push(`${c.label}: chain of ${depth} CA certificates, API Gateway allows at most ${MAX_CHAIN_DEPTH}`);
    return {
      index: i + 1,
      subject: f.subject,
      issuer: f.issuer,
      serial: f.serial,
      fingerprint: f.fingerprint,
      notBefore: f.notBefore.toISOString(),
      notAfter: f.notAfter.toISOString(),
      role: !c.x.ca ? 'not-a-ca' : selfSigned(c) ? 'root' : 'intermediate',
      depth,
    };
  });
  return { ok: violations.length === 0, entries, violations, warnings };
}

/** Fingerprints of the CA certificates a truststore holds (to tell whether a published one is current). */
export function sameTruststore(a: string, b: string): boolean {
  const norm = (s: string) => pemBlocks(s, 'CERTIFICATE').map((d) => d.toString('base64')).join('|');
  return norm(a) === norm(b);
}

