import { describe, it, expect, beforeAll } from 'vitest';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ca, fileDigest, openssl, tempDir } from '../helpers/cli.js';

/**
 * Lifecycle fidelity: what the CA and each client certificate were issued with is recorded and survives
 * renew, renew --all, rotation (with and without --rekey) and retirement, judged by OpenSSL and by parsed fields.
 */

const DAY = 86_400_000;
const BACKDATE = 5 * 60_000;

const blocks = (pem: string) => pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? [];

/** `openssl verify -x509_strict -purpose sslclient` with only the root as trust anchor, the bundle's chain as untrusted. */
function verifyClient(dir: string, id: string): { code: number; out: string } {
  const b = join(dir, 'bundles', id);
  const chain = blocks(readFileSync(join(b, 'chain.pem'), 'utf8'));
  writeFileSync(join(dir, 'root.pem'), chain[chain.length - 1]!);
  return openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(dir, 'root.pem'), '-untrusted', join(b, 'chain.pem'), join(b, `${id}.crt`)]);
}

const cert = (dir: string, id: string) => new X509Certificate(readFileSync(join(dir, 'bundles', id, `${id}.crt`)));
const issuerOf = (dir: string, id: string) => new X509Certificate(blocks(readFileSync(join(dir, 'bundles', id, 'chain.pem'), 'utf8'))[0]!);
const lengthDays = (x: X509Certificate) => Math.round((Date.parse(x.validTo) - Date.parse(x.validFrom) - BACKDATE) / DAY);
const ekus = (x: X509Certificate) => [...(x.keyUsage ?? [])].sort();
const ORG = 'Acme Corp';
// every re-issue rebuilds the .p12 of a bundle that has one, with this password
const P12 = { CA_P12_PASSWORD: 'p12-secret-123' };

/** The certificate and the key's public key a .p12 holds, read by OpenSSL, beside those of the .crt and .key. */
function p12Agrees(dir: string, id: string) {
  const b = join(dir, 'bundles', id);
  const cert = openssl(['pkcs12', '-in', join(b, `${id}.p12`), '-nokeys', '-clcerts', '-passin', `pass:${P12.CA_P12_PASSWORD}`]);
  expect(cert.code, cert.out).toBe(0);
  const key = openssl(['pkcs12', '-in', join(b, `${id}.p12`), '-nocerts', '-nodes', '-passin', `pass:${P12.CA_P12_PASSWORD}`]);
  expect(key.code, key.out).toBe(0);
  const inP12 = new X509Certificate(cert.out.slice(cert.out.indexOf('-----BEGIN CERTIFICATE-----')));
  expect(inP12.fingerprint256, `${id}.p12 holds the certificate of ${id}.crt`).toBe(new X509Certificate(readFileSync(join(b, `${id}.crt`))).fingerprint256);
  const pub = (pem: string) => createPublicKey(createPrivateKey(pem)).export({ type: 'spki', format: 'der' }).toString('hex');
  const keyPem = key.out.slice(key.out.indexOf('-----BEGIN PRIVATE KEY-----'));
  expect(pub(keyPem), `${id}.p12 holds the key of ${id}.key`).toBe(pub(readFileSync(join(b, `${id}.key`), 'utf8')));
  expect(inP12.publicKey.export({ type: 'spki', format: 'der' }).toString('hex')).toBe(pub(keyPem));
}

describe('lifecycle fidelity on the embedded store', () => {
  const dir = tempDir('ca-lifecycle-');
  const registry = join(dir, 'pki', 'registry.json');
  // the trust domain comes from the environment at bootstrap only: later runs must not need it again
  const bootEnv = { CA_SPIFFE_TRUST_DOMAIN: 'acme.test' };

  beforeAll(() => {
    const r = ca(dir, ['bootstrap', '--org', ORG, '--ca-name', 'Acme', '--ca-key-type', 'rsa-3072', '--intermediate-days', '800', '--json'], bootEnv);
    expect(r.code, r.stderr).toBe(0);
    writeFileSync(join(dir, 'clients.json'), JSON.stringify({ clients: [{ client_id: 'f45', validity_days: 45 }, { client_id: 'f-rsa', key_type: 'rsa-2048' }] }));
    for (const args of [
      ['issue-client', 'd30', '--days', '30'],
      ['issue-client', 'plain'],
      ['issue-client', 'sp', '--spiffe-trust-domain', 'other.test'],
      ['issue-client', '--from', 'clients.json'],
      ['issue-client', 'p12c', '--p12', '--key-type', 'rsa-2048', '--days', '60'],
    ]) {
      const x = ca(dir, args, P12);
      expect(x.code, x.stderr).toBe(0);
    }
  });

  /** Every client as it must be after any lifecycle step. */
  function expectClientsFaithful() {
    const want: Record<string, { days: number; spiffe?: string; keyType: string }> = {
      d30: { days: 30, spiffe: 'spiffe://acme.test/client/d30', keyType: 'ec' },
      plain: { days: 365, spiffe: 'spiffe://acme.test/client/plain', keyType: 'ec' },
      sp: { days: 365, spiffe: 'spiffe://other.test/client/sp', keyType: 'ec' },
      f45: { days: 45, spiffe: 'spiffe://acme.test/client/f45', keyType: 'ec' },
      'f-rsa': { days: 365, spiffe: 'spiffe://acme.test/client/f-rsa', keyType: 'rsa' },
      p12c: { days: 60, spiffe: 'spiffe://acme.test/client/p12c', keyType: 'rsa' },
    };
    for (const [id, w] of Object.entries(want)) {
      const v = verifyClient(dir, id);
      expect(v.out, id).toMatch(/: OK/);
      expect(v.code, id).toBe(0);
      const x = cert(dir, id);
      expect(x.subject, id).toBe(`O=${ORG}\nCN=${id}`);
      expect(x.publicKey.asymmetricKeyType, id).toBe(w.keyType);
      expect(lengthDays(x), id).toBe(w.days);
      expect(x.subjectAltName, id).toBe(`URI:${w.spiffe}`);
      expect(ekus(x), id).toEqual(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
      const issuer = issuerOf(dir, id);
      expect(x.checkIssued(issuer), id).toBe(true);
      expect(issuer.publicKey.asymmetricKeyType, id).toBe('rsa');
      expect(issuer.publicKey.asymmetricKeyDetails?.modulusLength, id).toBe(3072);
    }
    p12Agrees(dir, 'p12c');
  }

  it('every client is issued with its own parameters under the recorded profile', () => {
    expectClientsFaithful();
    const status = ca(dir, ['status', '--json']).json();
    expect(status.profile).toMatchObject({ organization: ORG, caName: 'Acme', caKeyType: 'rsa-3072', intermediateValidityDays: 800, spiffeTrustDomain: 'acme.test' });
  });

  it('renew keeps the validity length a certificate was issued with (issue --days 30, renew)', () => {
    const r = ca(dir, ['renew', 'd30', '--json'], P12);
    expect(r.code, r.stderr).toBe(0);
    expect(r.json().renewed[0].validityDays).toBe(30);
    expectClientsFaithful();
  });

  it('renew --all keeps each validity_days from the provisioning file and each SPIFFE ID', () => {
    const r = ca(dir, ['renew', '--all'], P12);
    expect(r.code, r.stderr).toBe(0);
    expectClientsFaithful();
  });

  it('rotation keeps the CA profile recorded at bootstrap: name, organization, RSA-3072 key, validity', () => {
    const r = ca(dir, ['rotate-intermediate', '--json'], P12);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json();
    expect(out.intermediate.subject).toBe(`CN=Acme Issuing CA G2, O=${ORG}`);
    expect(out.intermediate.keyType).toBe('rsa-3072');
    expect(Math.round((Date.parse(out.intermediate.notAfter) - Date.parse(out.intermediate.notBefore) - BACKDATE) / DAY)).toBe(800);
    expectClientsFaithful();
    for (const id of ['d30', 'f45']) expect(issuerOf(dir, id).subject).toBe(`O=${ORG}\nCN=Acme Issuing CA G2`);
  });

  it('rotation with --rekey keeps key type, validity and SPIFFE ID with new keys', () => {
    const before = cert(dir, 'f-rsa').publicKey.export({ type: 'spki', format: 'der' }).toString('hex');
    const r = ca(dir, ['rotate-intermediate', '--rekey'], P12);
    expect(r.code, r.stderr).toBe(0);
    expect(cert(dir, 'f-rsa').publicKey.export({ type: 'spki', format: 'der' }).toString('hex')).not.toBe(before);
    expectClientsFaithful();
  });

  it('retiring the previous intermediates leaves every current client working', () => {
    const r = ca(dir, ['retire-intermediate', '--force', '--yes'], P12);
    expect(r.code, r.stderr).toBe(0);
    expectClientsFaithful();
    const ts = readFileSync(join(dir, 'pki', 'truststore.pem'), 'utf8');
    expect(blocks(ts)).toHaveLength(2);
  });

  it('renew --days overrides the recorded length, and the new length is recorded', () => {
    expect(ca(dir, ['renew', 'plain', '--days', '90']).code).toBe(0);
    expect(lengthDays(cert(dir, 'plain'))).toBe(90);
    expect(ca(dir, ['renew', 'plain']).code).toBe(0);
    expect(lengthDays(cert(dir, 'plain'))).toBe(90);
  });

  it('a setting that disagrees with the recorded profile is refused, naming both values, and changes nothing', () => {
    const before = fileDigest(registry);
    for (const [args, env, pattern] of [
      [['rotate-intermediate'], { CA_ORGANIZATION: 'Example Org' }, /organization is "Example Org" here \(CA_ORGANIZATION\) but this CA's recorded profile has "Acme Corp"/],
      [['issue-client', 'new1'], { CA_CA_KEY_TYPE: 'ec-p256' }, /CA key type is "ec-p256" here \(CA_CA_KEY_TYPE\) but .* "rsa-3072"/],
      [['issue-client', 'new1'], { CA_CLIENT_DAYS: '10' }, /client validity is 10 here \(CA_CLIENT_DAYS\) but .* 365/],
      [['rotate-intermediate', '--dry-run'], { CA_SPIFFE_TRUST_DOMAIN: 'changed.test' }, /SPIFFE trust domain is "changed.test" here/],
    ] as [string[], Record<string, string>, RegExp][]) {
      const r = ca(dir, args, env);
      expect(r.code, r.stderr).toBe(5);
      const lines = r.stderr.trim().split('\n');
      expect(lines[0]).toMatch(pattern);
      expect(lines[1]).toMatch(/^hint: .*--update-profile/);
    }
    expect(fileDigest(registry)).toBe(before);
    // a config file disagreeing is named by its key and file
    writeFileSync(join(dir, 'ca.config.json'), JSON.stringify({ caName: 'Other' }));
    const r = ca(dir, ['issue-client', 'new1']);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(/CA name is "Other" here \(caName in .*ca\.config\.json\) but this CA's recorded profile has "Acme"/);
    writeFileSync(join(dir, 'ca.config.json'), '{}');
    expect(fileDigest(registry)).toBe(before);
    // read-only commands show the recorded profile and are not refused
    const s = ca(dir, ['status', '--json'], { CA_ORGANIZATION: 'Example Org' });
    expect(s.code, s.stderr).toBe(0);
    expect(s.json().profile.organization).toBe(ORG);
  });

  it('--update-profile records a changed setting, and the next rotation uses it', () => {
    const r = ca(dir, ['--update-profile', 'rotate-intermediate', '--json'], { ...P12, CA_ORGANIZATION: 'Acme Holdings', CA_INTERMEDIATE_DAYS: '400' });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/recorded the CA profile change: organization "Acme Corp" -> "Acme Holdings"/);
    expect(r.json().intermediate.subject).toBe('CN=Acme Issuing CA G4, O=Acme Holdings');
    // recorded: later runs without the setting keep it, and a run with the old value is now the one refused
    const s = ca(dir, ['status', '--json']).json();
    expect(s.profile).toMatchObject({ organization: 'Acme Holdings', intermediateValidityDays: 400, caKeyType: 'rsa-3072' });
    expect(ca(dir, ['issue-client', 'new2'], { CA_ORGANIZATION: 'Acme Corp' }).code).toBe(5);
    expect(cert(dir, 'd30').subject).toBe('O=Acme Holdings\nCN=d30');
    expect(lengthDays(cert(dir, 'd30'))).toBe(30);
  });
});

describe('a validity cut short at its issuer\'s end', () => {
  it('is said in the human output and in JSON, for an intermediate capped at the root and a client at its intermediate', () => {
    const dir = tempDir('ca-capped-');
    const boot = ca(dir, ['bootstrap', '--root-days', '40', '--intermediate-days', '100', '--json']);
    expect(boot.code, boot.stderr).toBe(0);
    expect(boot.json().intermediate).toMatchObject({ validityDays: 100, validityCapped: true });
    expect(boot.json().root).toMatchObject({ validityDays: 40, validityCapped: false });
    const human = ca(dir, ['issue-client', 'a', '--days', '60']);
    expect(human.code, human.stderr).toBe(0);
    expect(human.stdout).toMatch(/valid +\S+ \.\. \S+ \(60 days asked: capped at its issuer's end\)/);
    const json = ca(dir, ['issue-client', 'b', '--days', '10', '--json']);
    expect(json.json()).toMatchObject({ validityDays: 10, validityCapped: false });
  });
});
