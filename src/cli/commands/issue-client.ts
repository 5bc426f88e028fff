import type { Command } from 'commander';
import { helpFooter } from '../shared.js';

export function register(program: Command): void {
  const cmd = program
    .command('issue-client [id]')
    .description('issue a client certificate (new key, or signed from the client\'s CSR) and write its bundle')
    .option('--csr <file>', 'sign this PKCS#10 CSR: only its public key is used, the CA never sees the private key')
    .option('--from <file>', 'provision every client listed in a JSON file ({"clients":[{"client_id":"..."}]}) that lacks a certificate')
    .option('--prune', 'with --from: revoke active clients that are no longer listed (asks to confirm)')
    .option('--allow-csr-outside', 'with --from: let CSR paths lead outside the file\'s directory (absolute paths, .., symlinks)')
    .option('--key-type <type>', 'key type to generate: ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096')
    .option('--days <n>', 'validity in days (default 365, never past the issuing intermediate)')
    .option('--scope <scope>', 'an OAuth scope the token endpoint may grant this client (repeatable, or comma-separated; RFC 6749 scope-tokens)', (v: string, p: string[] = []) => [...p, v])
    .option('--audience <aud>', 'an audience its access tokens name (repeatable; default: CA_TOKEN_AUDIENCE of the token endpoint)', (v: string, p: string[] = []) => [...p, v])
    .option('--spiffe-trust-domain <domain>', 'add the URI SAN spiffe://<domain>/client/<id>')
    .option('--crl-distribution-point <url>', 'add a CRL distribution point (https:// or s3:// URL; {issuer} = the intermediate\'s serial); else the CA profile\'s (CA_CRL_DISTRIBUTION_POINT)')
    .option('--out <dir>', 'bundle directory (default ./bundles; files go to <dir>/<id>/)')
    .option('--p12', 'also write <id>.p12 (PKCS#12, AES-256); password from --p12-password-file, CA_P12_PASSWORD or a prompt')
    .option('--p12-password-file <file>', 'read the PKCS#12 password from this file')
    .option('--drop-p12', 'with --replace: remove the .p12 the bundle holds instead of writing a new one (without --p12 or this, a bundle with a .p12 is refused)')
    .option('--replace', 'supersede the client\'s active certificate (it stays valid for the grace period)')
    .option('--deliver <where>', 'files (default) or ssm (SecureString parameters, aws store only)', 'files')
    .option('--dry-run', 'print what would be done and change nothing')
    .action(async (id: string | undefined, o, c: Command) => {
      const { runIssueClient } = await import('./issue-client.run.js');
      await runIssueClient(id, o, c);
    });
  helpFooter(cmd, [
    'ca issue-client acme                            # bundles/acme/{acme.crt,acme.key,chain.pem}',
    'ca issue-client partner --csr partner.csr       # sign the partner\'s CSR',
    'ca issue-client acme --replace --key-type rsa-2048 --days 90',
    'ca issue-client acme --scope orders:read --scope orders:write --audience https://api.example.com',
    'CA_P12_PASSWORD=... ca issue-client acme --p12  # also bundles/acme/acme.p12',
    'ca issue-client --from clients/sandbox.json --yes --json   # CI provisioning',
    'ca issue-client --from clients/sandbox.json --prune --dry-run',
  ]);
}
