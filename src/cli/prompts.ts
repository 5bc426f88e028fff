import { cancelled, usageError } from '../domain/errors.js';

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

/** Asks a hidden value; without a terminal, a usage error naming the flag or variable to use instead. */
export async function askSecret(message: string, source: string, o: { confirm?: boolean } = {}): Promise<string> {
  if (!interactive()) throw usageError(`${message} needed and no terminal to ask on`, `set ${source}`);
  const v = await prompt<string>({ type: 'password', message, mask: '*' });
  if (o.confirm) {
    const again = await prompt<string>({ type: 'password', message: `${message} (again)`, mask: '*' });
    if (again !== v) throw usageError('the two entries differ');
  }
  return v;
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
