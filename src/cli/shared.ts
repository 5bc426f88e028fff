import type { Command } from 'commander';

/** The exit codes every command documents (the same table is in the README). */
export const EXIT_CODES_HELP = `
Exit codes:
  0    success
  1    internal error (a bug: please report it, with CA_DEBUG=1 output)
  2    usage: unknown option, missing argument or value
  3    invalid input: malformed PEM or CSR, weak key, bad id, wrong passphrase
  4    not found: no CA yet, unknown client or serial
  5    conflict: already exists, or changed by another run
  6    storage: the store (directory, S3, DynamoDB, SSM, KMS) failed
  7    verification failed (truststore rules, --strict warnings, a broken audit chain)
  130  cancelled (Ctrl-C or a declined confirmation)`;

/** Adds the EXAMPLES and EXIT CODES sections every command's help ends with. */
export function helpFooter(cmd: Command, examples: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}\n${EXIT_CODES_HELP}\n`);
}

/** Options every command accepts (also accepted before the command name). */
export interface GlobalOptions {
  config?: string;
  env?: string;
  store?: string;
  dir?: string;
  json?: boolean;
  yes?: boolean;
  passphraseFile?: string;
  /** record profile settings that differ from the CA's recorded profile instead of refusing them */
  updateProfile?: boolean;
}

export function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals() as GlobalOptions;
}

/** Whether a result document was already printed on stdout in this process. */
export const output = { emitted: false };

/** Resources a command opened (worker threads) that must be released however it ends. */
export const cleanups: (() => Promise<void>)[] = [];

/** A secret from a file: its first line, so `echo secret > file` works; a missing file is an input error. */
export async function readSecretFile(path: string, what: string): Promise<string> {
  const { readInputFile } = await import('./input.js');
  return readInputFile(path, `${what} file`, 64 * 1024).split(/\r?\n/)[0]!;
}
