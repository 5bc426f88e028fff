import { invalidInput, usageError } from '../domain/errors.js';
import type { Pkcs12Choice } from '../domain/issuance.js';
import { askSecret, interactive } from './prompts.js';
import { readSecretFile } from './shared.js';

/** The PKCS#12 password: --p12-password-file, else CA_P12_PASSWORD, else a prompt (confirmed) on a terminal. */
export async function p12Password(o: { p12PasswordFile?: string }): Promise<string> {
  const pw = o.p12PasswordFile
    ? await readSecretFile(o.p12PasswordFile, 'PKCS#12 password')
    : (process.env.CA_P12_PASSWORD ?? (await askSecret('PKCS#12 password', 'CA_P12_PASSWORD or --p12-password-file', { confirm: true })));
  if (pw.length === 0) throw invalidInput('the PKCS#12 password is empty');
  return pw;
}

/**
 * What renew and rotate-intermediate do with a bundle's .p12: --drop-p12 removes it; a password from
 * --p12-password-file, CA_P12_PASSWORD or a terminal prompt rebuilds it (asked only when a bundle has one);
 * with none of them a bundle with a .p12 is refused (the domain names both ways).
 */
export function p12Choice(o: { p12PasswordFile?: string; dropP12?: boolean }): Pkcs12Choice {
  if (o.dropP12 && o.p12PasswordFile) throw usageError('--drop-p12 and --p12-password-file exclude each other', 'rebuild the .p12 files with the password, or remove them');
  if (o.dropP12) return { drop: true };
  if (o.p12PasswordFile || process.env.CA_P12_PASSWORD !== undefined || interactive()) return { password: () => p12Password(o) };
  return {};
}
