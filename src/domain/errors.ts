/**
 * One error family for everything the tool reports to a user. Each carries a stable exit code,
 * a one-line message and an optional hint that says what to do next.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  invalidInput: 3,
  notFound: 4,
  conflict: 5,
  storage: 6,
  verification: 7,
  cancelled: 130,
} as const;
export type ExitCodeName = keyof typeof ExitCode;

export class CaError extends Error {
  readonly exitCode: number;
  readonly hint?: string;
  constructor(
    readonly code: ExitCodeName,
    message: string,
    opts: { hint?: string; cause?: unknown } = {},
  ) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'CaError';
    this.exitCode = ExitCode[code];
    this.hint = opts.hint;
  }
}

export const usageError = (m: string, hint?: string) => new CaError('usage', m, { hint });
export const invalidInput = (m: string, hint?: string, cause?: unknown) => new CaError('invalidInput', m, { hint, cause });
export const notFound = (m: string, hint?: string) => new CaError('notFound', m, { hint });
export const conflict = (m: string, hint?: string) => new CaError('conflict', m, { hint });
export const storageError = (m: string, hint?: string, cause?: unknown) => new CaError('storage', m, { hint, cause });
export const cancelled = (m = 'cancelled') => new CaError('cancelled', m);

export function isCaError(e: unknown): e is CaError {
  return e instanceof CaError;
}
