import { afterEach, describe, expect, it } from 'vitest';
import { duration, progressBar } from '../../src/cli/progress.js';
import { CaError } from '../../src/domain/errors.js';

/** A terminal-like stream that keeps what is written. */
function terminal(columns = 100) {
  const out: string[] = [];
  const stream = { isTTY: true, columns, write: (s: string) => (out.push(s), true) } as unknown as NodeJS.WriteStream;
  return { stream, text: () => out.join(''), lines: () => out.join('').split(/[\r\n]/).filter(Boolean) };
}

const saved = { CI: process.env.CI, TERM: process.env.TERM };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

function onTerminal() {
  delete process.env.CI;
  process.env.TERM = 'xterm';
}

describe('progress bar', () => {
  it('shows the rate so far and the time left at that rate, and the total time at the end', () => {
    onTerminal();
    const t = terminal();
    let clock = 0;
    const bar = progressBar('issuing', t.stream, { now: () => clock });
    bar(0, 10_000);
    clock = 2000;
    bar(2000, 10_000);
    // 2,000 in 2 s: 1,000/s, 8,000 left: 8 s
    expect(t.lines().pop()).toMatch(/^issuing \[#+-+\] 2000\/10000 20% 1,000\/s, 8s left/);
    clock = 10_000;
    bar(10_000, 10_000);
    expect(t.lines().pop()).toMatch(/10000\/10000 100% 1,000\/s, in 10s/);
    bar.end();
    expect(t.text().endsWith('\n')).toBe(true);
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('draws nothing off a terminal or under CI', () => {
    onTerminal();
    process.env.CI = 'true';
    const t = terminal();
    const bar = progressBar('issuing', t.stream);
    bar(0, 10);
    bar(5, 10);
    bar.end();
    expect(t.text()).toBe('');
    expect(process.listenerCount('SIGINT')).toBe(0);
  });

  it('formats durations as a person reads them', () => {
    expect(duration(4.4)).toBe('4s');
    expect(duration(65)).toBe('1m05s');
    expect(duration(7380)).toBe('2h03m');
  });

  it('Ctrl-C ends the bar\'s line, and the next report stops the work with what was done and how to resume (exit 130)', () => {
    onTerminal();
    const t = terminal();
    let clock = 0;
    const bar = progressBar('issuing', t.stream, { now: () => clock, exit: () => expect.fail('exited at the first Ctrl-C') });
    const before = process.listenerCount('SIGINT');
    bar(0, 300);
    clock = 100;
    bar(100, 300);
    expect(process.listenerCount('SIGINT')).toBe(before + 1);
    process.emit('SIGINT', 'SIGINT');
    // the bar's line ended, then a line saying what happens
    expect(t.text()).toMatch(/100\/300 33%[^\n]*\x1b\[K\nstopping after the current batch \(issued 100 of 300 so far\)/);
    let e: unknown;
    try {
      bar(200, 300);
    } catch (x) {
      e = x;
    }
    expect(e).toBeInstanceOf(CaError);
    expect((e as CaError).exitCode).toBe(130);
    expect((e as CaError).message).toBe('interrupted: issued 200 of 300');
    expect((e as CaError).hint).toBe('re-run the same command: it finishes what is left');
    bar.end();
    expect(process.listenerCount('SIGINT')).toBe(before);
  });

  it('a second Ctrl-C stops at once with the same message and exit 130', () => {
    onTerminal();
    const t = terminal();
    const exits: number[] = [];
    const bar = progressBar('re-issuing', t.stream, { now: () => 0, exit: (c) => void exits.push(c) });
    bar(0, 2000);
    bar(990, 2000);
    process.emit('SIGINT', 'SIGINT');
    process.emit('SIGINT', 'SIGINT');
    expect(exits).toEqual([130]);
    expect(t.text()).toMatch(/error: interrupted: re-issued 990 of 2,000\nhint: re-run the same command: it finishes what is left\n$/);
    bar.end();
  });

  it('a Ctrl-C after the last report lets the work finish', () => {
    onTerminal();
    const t = terminal();
    const bar = progressBar('issuing', t.stream, { now: () => 0, exit: () => expect.fail('exited') });
    bar(0, 10);
    bar(10, 10);
    process.emit('SIGINT', 'SIGINT');
    expect(() => bar(10, 10)).not.toThrow();
    bar.end();
  });
});
