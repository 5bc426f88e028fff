import { cancelled, invalidInput, usageError } from '../domain/errors.js';

/** Prompts only when a person is there: stdin and stderr are terminals and not under CI. */
export function interactive(): boolean {
  return !!process.stdin.isTTY && !!process.stderr.isTTY && !process.env.CI;
}

async function prompt<T>(question: Record<string, unknown>): Promise<T> {
  const inquirer = (await import('inquirer')).default;
  // prompts go to stderr: stdout carries only results
  const ask = inquirer.createPromptModule({ output: process.stderr });
  try {
    const answers = (await ask([{ name: 'v', ...question } as never])) as { v: T };
    return answers.v;
  } catch (e) {
    if ((e as Error).name === 'ExitPromptError') throw cancelled();
    throw e;
  }
}

/** How many times a hidden value is asked before giving up, as ssh-keygen and step do. */
const TRIES = 3;

/**
 * Asks a hidden value; without a terminal, a usage error naming the flag or variable to use instead. A value
 * `validate` refuses, or a confirmation that differs, is asked again, up to three tries; then the last reason
 * is the error (invalid input, the same code as the value given any other way).
 */
export async function askSecret(message: string, source: string, o: { confirm?: boolean; validate?: (v: string) => string | undefined } = {}): Promise<string> {
  if (!interactive()) throw usageError(`${message} needed and no terminal to ask on`, `set ${source}`);
  let problem = '';
  for (let attempt = 1; attempt <= TRIES; attempt++) {
    const v = await prompt<string>({ type: 'password', message, mask: '*' });
    problem = o.validate?.(v) ?? '';
    if (!problem && o.confirm) {
      const again = await prompt<string>({ type: 'password', message: `${message} (again)`, mask: '*' });
      if (again !== v) problem = 'the two entries differ';
    }
    if (!problem) return v;
    if (attempt < TRIES) process.stderr.write(`${problem}: try again (${TRIES - attempt} ${TRIES - attempt === 1 ? 'try' : 'tries'} left)\n`);
  }
  throw invalidInput(`${problem} (${TRIES} tries)`, `or set ${source}`);
}

/** Confirms a destructive step; `--yes` skips it; without a terminal and without --yes it is a usage error. */
export async function confirmOrYes(message: string, yes: boolean | undefined): Promise<void> {
  if (yes) return;
  if (!interactive()) throw usageError(`${message}: confirmation needed`, 'add --yes to confirm without a terminal');
  const ok = await prompt<boolean>({ type: 'confirm', message, default: false });
  if (!ok) throw cancelled('cancelled: nothing was changed');
}

export async function askText(message: string, dflt?: string): Promise<string> {
  return prompt<string>({ type: 'input', message, default: dflt });
}

export async function askChoice<T extends string>(message: string, choices: T[], dflt?: T): Promise<T> {
  return prompt<T>({ type: 'list', message, choices, default: dflt });
}
