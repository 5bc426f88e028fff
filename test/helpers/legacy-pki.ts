import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openssl, tempDir } from './cli.js';

/**
 * Certificates in the profile of the Python/Terraform setup `ca import` adopts, made with `openssl`: RSA-2048
 * (RSA-4096 in production), SHA-256, no SKI/AKI, no clientAuth EKU, decimal-friendly serials.
 */
const EXT = `[req]
distinguished_name = dn
[dn]
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = none
authorityKeyIdentifier = none
[v3_client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectKeyIdentifier = none
authorityKeyIdentifier = none
`;

export interface LegacyCert {
  certificatePem: string;
  privateKeyPem: string;
  /** decimal, as the old table's partition key holds it */
  serialNumber: string;
}

export interface LegacyPki {
  dir: string;
  root: LegacyCert;
  intermediate: LegacyCert;
  client(cn: string, serialNumber: string, o?: { issuer?: LegacyCert; days?: number }): LegacyCert;
  /** another CA's intermediate, for a certificate that does not chain */
  foreign: LegacyCert;
}

function run(args: string[], dir: string): void {
  const r = openssl(args, dir);
  if (r.code !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.out}`);
}

let n = 0;
function make(dir: string, subj: string, serial: string, ext: 'v3_ca' | 'v3_client', days: number, issuer?: { cert: string; key: string }): LegacyCert {
  const base = `c${++n}`;
  run(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', `${base}.key`], dir);
  if (!issuer) {
    run(['req', '-x509', '-new', '-key', `${base}.key`, '-subj', subj, '-days', String(days), '-sha256', '-config', 'ext.cnf', '-extensions', ext, '-set_serial', serial, '-out', `${base}.pem`], dir);
  } else {
    run(['req', '-new', '-key', `${base}.key`, '-subj', subj, '-config', 'ext.cnf', '-out', `${base}.csr`], dir);
    writeFileSync(join(dir, `${base}-i.pem`), issuer.cert);
    writeFileSync(join(dir, `${base}-i.key`), issuer.key, { mode: 0o600 });
    run(['x509', '-req', '-in', `${base}.csr`, '-CA', `${base}-i.pem`, '-CAkey', `${base}-i.key`, '-set_serial', serial, '-days', String(days), '-sha256', '-extfile', 'ext.cnf', '-extensions', ext, '-out', `${base}.pem`], dir);
  }
  return { certificatePem: readFileSync(join(dir, `${base}.pem`), 'utf8'), privateKeyPem: readFileSync(join(dir, `${base}.key`), 'utf8'), serialNumber: serial };
}

/** A root, an intermediate under it, and a foreign intermediate (another root), all in the old profile. */
export function legacyPki(): LegacyPki {
  const dir = tempDir('ca-legacy-');
  writeFileSync(join(dir, 'ext.cnf'), EXT);
  const root = make(dir, '/O=Apigw Mtls/CN=apigw-mtls Root CA', '1001', 'v3_ca', 3650);
  const intermediate = make(dir, '/O=Apigw Mtls/CN=apigw-mtls Intermediate CA', '1002', 'v3_ca', 1825, { cert: root.certificatePem, key: root.privateKeyPem });
  const otherRoot = make(dir, '/O=Elsewhere/CN=Elsewhere Root CA', '2001', 'v3_ca', 3650);
  const foreign = make(dir, '/O=Elsewhere/CN=Elsewhere Intermediate', '2002', 'v3_ca', 1825, { cert: otherRoot.certificatePem, key: otherRoot.privateKeyPem });
  return {
    dir,
    root,
    intermediate,
    foreign,
    client: (cn, serialNumber, o = {}) => {
      const issuer = o.issuer ?? intermediate;
      return make(dir, `/O=Apigw Mtls/CN=${cn}`, serialNumber, 'v3_client', o.days ?? 365, { cert: issuer.certificatePem, key: issuer.privateKeyPem });
    },
  };
}
