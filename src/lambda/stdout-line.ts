/**
 * One log line to standard output for the Lambda handlers, with `fs.writeSync(1)` rather than `process.stdout`.
 *
 * Measured reason: the first use of `process.stdout` on a pipe (how Lambda and the bench hand a function its
 * standard output) builds a stream and a pipe handle, ~1 ms, and its first write ~0.5 ms more, on the critical path
 * of a cold start's first decision; one write(2) is ~0.05 ms. The bench row "first log line in a cold process"
 * keeps measuring the two. Semantics do not change: on Linux, `process.stdout` writes to a pipe or a file
 * synchronously too. Should the descriptor refuse (EAGAIN on a descriptor someone made non-blocking, a closed
 * one), the rest of the line and every later line go through `process.stdout`, so the order of lines holds.
 */
import { writeSync } from 'node:fs';

let streamed = false;

/** Writes `line` and a newline to standard output. Never throws for the descriptor's sake. */
export function writeStdoutLine(line: string): void {
  const buf = Buffer.from(line + '\n', 'utf8');
  let off = 0;
  if (!streamed) {
    try {
      while (off < buf.length) off += writeSync(1, buf, off, buf.length - off);
      return;
    } catch {
      streamed = true;
    }
  }
  process.stdout.write(buf.subarray(off));
}
