import { fstatSync, writeSync } from 'node:fs';
import { CommanderError, Option } from 'commander';
import { DeferredCommand } from './deferred-command.js';
import { CaError, ExitCode } from '../domain/errors.js';
import { EXIT_CODES_HELP, cleanups, output } from './shared.js';
import * as bootstrap from './commands/bootstrap.js';
import * as issueClient from './commands/issue-client.js';
import * as renew from './commands/renew.js';
import * as revoke from './commands/revoke.js';
import * as rotate from './commands/rotate-intermediate.js';
import * as retire from './commands/retire-intermediate.js';
import * as list from './commands/list.js';
import * as inspect from './commands/inspect.js';
import * as status from './commands/status.js';
import * as truststore from './commands/truststore.js';
import * as init from './commands/init.js';
import * as authorizer from './commands/authorizer.js';
import * as gateway from './commands/gateway.js';
import * as importCmd from './commands/import.js';
import * as crl from './commands/crl.js';
import * as audit from './commands/audit.js';
import * as compact from './commands/compact.js';
import * as client from './commands/client.js';
import * as tokenKey from './commands/token-key.js';
import { CA_VERSION } from '../version.js';

/**
 * Help and version text go to fd 1 with a synchronous write instead of through process.stdout: creating that
 * stream loads Node's stream machinery, a fifth of what `ca --help` costs above `node -e 0`.
 */
function writeToFd(fd: number, text: string): void {
  const bytes = Buffer.from(text);
  for (let off = 0; off < bytes.length; ) {
    try {
      off += writeSync(fd, bytes, off);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') continue; // a non-blocking pipe that is full: wait for the reader
      if (code === 'EPIPE') return; // `ca --help | head`: the reader has gone
      throw e;
    }
  }
}

const program = new DeferredCommand('ca', { eager: true })
  .description('A private PKI for AWS API Gateway mutual TLS: CA, client certificates, rotation, revocation, authorizer.')
  .version(CA_VERSION, '-V, --version')
  .option('--env <name>', 'environment from ca.config.json (or CA_ENV)')
  .option('--config <file>', 'config file (default ./ca.config.json, or CA_CONFIG)')
  .addOption(new Option('--store <store>', 'local or aws (or CA_STORE)').choices(['local', 'aws']))
  .option('--dir <dir>', 'local store directory (default ./pki, or CA_DIR)')
  .option('--passphrase-file <file>', 'read the CA key passphrase from this file (or CA_PASSPHRASE; else asked on a terminal)')
  .option('--json', 'print one JSON document on stdout')
  .option('-y, --yes', 'answer yes to confirmations')
  .option('--update-profile', 'record settings that differ from the CA profile recorded at bootstrap (else refused)')
  .enablePositionalOptions(false)
  .showHelpAfterError('hint: run the command with --help for usage and examples')
  .configureOutput({
    writeOut: (text) => writeToFd(1, text),
    // commander's defaults read process.stdout (creating it) even when stdout is a file or a pipe, where the
    // width is its 80; a terminal is a character device (node:tty's isatty would load the net and stream code)
    getOutHelpWidth: () => (fstatSync(1).isCharacterDevice() ? (process.stdout.columns ?? 80) : 80),
    // the help text carries no colour of its own to keep or strip
    getOutHasColors: () => false,
  })
  // a subcommand's help lists the options every command takes (--json, --yes, --dir, --env), which its examples use
  .configureHelp({ showGlobalOptions: true })
  .exitOverride()
  .hook('preAction', () => {
    // `ca list | head` closes the pipe early: that is not an error.
    process.stdout.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(0);
      throw e;
    });
  });

for (const m of [init, bootstrap, issueClient, renew, revoke, rotate, retire, list, inspect, status, truststore, authorizer, gateway, importCmd, crl, audit, compact, client, tokenKey]) m.register(program);

program.addHelpText(
  'after',
  `
Getting started (embedded store in ./pki, no cloud account needed):
  export CA_PASSPHRASE='a long passphrase'   # or be asked on a terminal
  ca bootstrap                               # root + issuing intermediate + truststore.pem
  ca issue-client acme                       # bundles/acme/{acme.crt,acme.key,chain.pem}
  ca revoke acme --reason keyCompromise --yes
  ca rotate-intermediate                     # nobody locked out; clients re-issued
  ca status

How do I…
  sign a client's CSR?            ca issue-client partner --csr partner.csr
  provision from a file in CI?    ca issue-client --from clients/prod.json --yes --json
  check the truststore?           ca truststore verify
  give nginx/Envoy/an ALB a CRL?  ca crl (pki/crl/<serial>.crl.pem; schedule it daily)
  try mTLS + the authorizer?      ca gateway, then curl with a client bundle (see ca gateway --help)
  package the Lambda authorizer?  ca authorizer build
  use AWS?                        ca init --env production --store aws ...; ca bootstrap --env production
  move from the Python setup?     ca import --env production --ssm-prefix /<project>/<env> --dry-run
  who changed what, and when?     ca audit; ca audit verify
  see a command's options?        ca <command> --help
${EXIT_CODES_HELP}

Settings come from flags, then CA_* environment variables, then ca.config.json, then defaults.
Set CA_DEBUG=1 to print stack traces.
`,
);

/** Operating-system failures by errno: storage, conflict or input errors (exit 1 is for bugs only). */
const OS_ERRORS: Record<string, { words: string; code: 'storage' | 'conflict' | 'invalidInput'; hint: string }> = {
  EROFS: { words: 'read-only file system', code: 'storage', hint: 'the file system is read-only: use a writable directory (--dir, --out)' },
  ENOSPC: { words: 'no space left on device', code: 'storage', hint: 'free some disk space and run the command again; it completes what was started' },
  EDQUOT: { words: 'disk quota exceeded', code: 'storage', hint: 'the disk quota is used up: free some space and run the command again' },
  EIO: { words: 'input/output error', code: 'storage', hint: 'the disk reported an I/O error: check it, then run the command again' },
  EACCES: { words: 'permission denied', code: 'storage', hint: 'check the permissions of the store and bundle directories (--dir, --out)' },
  EPERM: { words: 'operation not permitted', code: 'storage', hint: 'check the permissions of the store and bundle directories (--dir, --out)' },
  EMFILE: { words: 'too many open files', code: 'storage', hint: 'too many open files: raise the limit (ulimit -n) and run the command again' },
  EEXIST: { words: 'already exists', code: 'conflict', hint: 'remove it or choose another path' },
  EADDRINUSE: { words: 'address already in use', code: 'conflict', hint: 'another program listens there: choose another port with --port' },
  EISDIR: { words: 'is a directory', code: 'invalidInput', hint: 'give the path of a file, not a directory' },
  ENOTDIR: { words: 'not a directory', code: 'invalidInput', hint: 'a part of the path is a file, not a directory' },
};

/** An operating-system error as a typed one: "failed to <verb> <object>: <cause>". */
function fromOsError(e: unknown): CaError | undefined {
  const err = e as NodeJS.ErrnoException & { address?: string; port?: number };
  const known = typeof err?.code === 'string' ? OS_ERRORS[err.code] : undefined;
  if (!known) return undefined;
  const object = err.path ?? (err.address !== undefined ? `${err.address}${err.port !== undefined ? `:${err.port}` : ''}` : 'a file');
  const verb = err.syscall === 'listen' || err.syscall === 'bind' ? `${err.syscall} on` : (err.syscall ?? 'use');
  return new CaError(known.code, `failed to ${verb} ${object}: ${known.words} (${err.code})`, { hint: known.hint, cause: e });
}

function fail(e: unknown): number {
  const debug = !!process.env.CA_DEBUG;
  const json = process.argv.includes('--json');
  if (e instanceof CommanderError) {
    // help and version exit through here with code 0; commander has written its message to stderr
    if (e.exitCode !== 0 && json && !output.emitted) {
      const message = e.message.replace(/^error: /, '');
      process.stdout.write(JSON.stringify({ error: { code: 'usage', exitCode: ExitCode.usage, message } }, null, 2) + '\n');
    }
    return e.exitCode === 0 ? 0 : ExitCode.usage;
  }
  e = fromOsError(e) ?? e;
  if (e instanceof CaError) {
    process.stderr.write(`error: ${e.message}\n${e.hint ? `hint: ${e.hint}\n` : ''}`);
    if (debug) process.stderr.write(`${e.stack}\n${e.cause ? `cause: ${(e.cause as Error).stack ?? e.cause}\n` : ''}`);
    // one JSON document on stdout: the error, unless a result was already printed (e.g. a failed verification)
    if (json && !output.emitted) process.stdout.write(JSON.stringify({ error: { code: e.code, exitCode: e.exitCode, message: e.message, ...(e.hint ? { hint: e.hint } : {}) } }, null, 2) + '\n');
    return e.exitCode;
  }
  const message = (e instanceof Error ? e.message.split('\n')[0] : String(e)) || 'unexpected error';
  const hint = 'this looks like a bug; re-run with CA_DEBUG=1 and report the output';
  process.stderr.write(`error: ${message}\n${debug ? `${(e as Error)?.stack}\n` : `hint: ${hint}\n`}`);
  // a bug fails a --json caller the same way as every other error: one {"error": …} document (no stack in it)
  if (json && !output.emitted) process.stdout.write(JSON.stringify({ error: { code: 'internal', exitCode: ExitCode.internal, message, hint } }, null, 2) + '\n');
  return ExitCode.internal;
}

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    process.exitCode = fail(e);
  } finally {
    await Promise.all(cleanups.map((c) => c()));
  }
}

void main();
