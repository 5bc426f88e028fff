import { CaError } from '../domain/errors.js';

/** What an interrupted run of each kind of work has done, and how to go on (see progressBar). */
const INTERRUPTED: Record<string, { done: string; resume: string }> = {
  issuing: { done: 'issued', resume: 're-run the same command: it finishes what is left' },
  're-issuing': { done: 're-issued', resume: 're-run the same command: it finishes what is left' },
  renewing: { done: 'renewed', resume: 'the clients renewed so far keep their new certificates; `ca renew <id>` renews one of the others, `ca renew --all` every client again' },
};

/** `4s`, `1m05s`, `2h03m`. */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * A progress bar on stderr for long work, drawn only on a terminal (and not under CI or on a dumb terminal), so
 * logs and pipes stay clean: done/total, percentage, the rate so far and the time left at that rate.
 *
 * While it is drawn, Ctrl-C (SIGINT) ends the bar's line and asks the work to stop where it can stop cleanly:
 * the next progress report (after a chunk is recorded and in place) throws a `cancelled` CaError (exit 130)
 * that says what was done and how to go on. A second Ctrl-C stops at once, with the same message: what a
 * crash leaves, which the next run completes (a chunk in flight may or may not have been recorded).
 */
export function progressBar(
  label: string,
  stream: NodeJS.WriteStream = process.stderr,
  o: { now?: () => number; exit?: (code: number) => void } = {},
): ((done: number, total: number) => void) & { end(): void } {
  const enabled = !!stream.isTTY && !process.env.CI && process.env.TERM !== 'dumb';
  const now = o.now ?? (() => performance.now());
  const words = INTERRUPTED[label] ?? { done: 'done', resume: 're-run the same command: it finishes what is left' };
  let last = -1;
  let drawn = false;
  let started: number | undefined;
  let done = 0;
  let total = 0;
  let interrupted = false;
  const interruption = () =>
    new CaError('cancelled', `interrupted: ${words.done} ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`, { hint: words.resume });
  const onSigint = () => {
    if (interrupted) {
      const e = interruption();
      stream.write(`error: ${e.message}\nhint: ${e.hint}\n`);
      (o.exit ?? process.exit)(130);
      return;
    }
    interrupted = true;
    if (drawn) stream.write('\n');
    drawn = false;
    const so = `${words.done} ${done.toLocaleString('en-US')} of ${total.toLocaleString('en-US')}`;
    stream.write(done < total ? `stopping after the current batch (${so} so far); Ctrl-C again to stop at once\n` : `finishing (${so}); Ctrl-C again to stop at once\n`);
  };
  const listen = (on: boolean) => {
    if (on) process.on('SIGINT', onSigint);
    else process.off('SIGINT', onSigint);
  };
  let listening = false;
  const draw = (d: number, t: number) => {
    done = d;
    total = t;
    if (started === undefined) started = now();
    // the work reports after each chunk: a chunk finished after Ctrl-C is where it stops
    if (interrupted && d < t) throw interruption();
    if (!enabled || t <= 1 || interrupted) return;
    if (!listening) {
      listen(true);
      listening = true;
    }
    const pct = Math.floor((d / t) * 100);
    if (pct === last && d !== t) return;
    last = pct;
    const elapsed = (now() - started) / 1000;
    let speed = '';
    if (d > 0 && elapsed > 0) {
      const rate = d / elapsed;
      speed = d === t ? ` ${Math.round(rate).toLocaleString('en-US')}/s, in ${duration(elapsed)}` : ` ${Math.round(rate).toLocaleString('en-US')}/s, ${duration((t - d) / rate)} left`;
    }
    const counts = `${d}/${t} ${pct}%${speed}`;
    const width = Math.max(10, Math.min(40, (stream.columns ?? 80) - label.length - counts.length - 5));
    const fill = Math.round((d / t) * width);
    // \x1b[K clears what a longer previous line left
    stream.write(`\r${label} [${'#'.repeat(fill)}${'-'.repeat(width - fill)}] ${counts}\x1b[K`);
    drawn = true;
  };
  return Object.assign(draw, {
    end() {
      if (listening) listen(false);
      listening = false;
      if (drawn) stream.write('\n');
      drawn = false;
    },
  });
}
