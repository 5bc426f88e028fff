// The Lambda handlers' log lines (src/lambda/stdout-line.ts): one write(2) on descriptor 1, and process.stdout
// for the rest of the line and every later line once the descriptor refuses. The descriptor is replaced here
// (vi.mock of node:fs) only to make it refuse on cue; the real pipe is exercised by the child process below
// and by every bundle test that reads the authorizer's decision lines from its standard output.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const fd = vi.hoisted(() => ({ script: [] as ('all' | 'partial' | 'EAGAIN')[], written: [] as string[] }));

vi.mock('node:fs', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs')>();
  return {
    ...real,
    writeSync: (d: number, buf: Buffer, off = 0, len = buf.length - off) => {
      if (d !== 1) return real.writeSync(d, buf, off, len);
      const step = fd.script.shift() ?? 'all';
      if (step === 'EAGAIN') throw Object.assign(new Error('EAGAIN: resource temporarily unavailable, write'), { code: 'EAGAIN' });
      const n = step === 'partial' ? Math.min(len, 5) : len;
      fd.written.push(buf.subarray(off, off + n).toString('utf8'));
      return n;
    },
  };
});

afterEach(() => {
  vi.restoreAllMocks();
});

describe('writeStdoutLine', () => {
  it('writes_whole_lines_to_descriptor_1_across_partial_writes_then_falls_back_to_process_stdout_in_order', async () => {
    const streamed: string[] = [];
    vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      streamed.push(Buffer.from(chunk).toString('utf8'));
      return true;
    });
    const { writeStdoutLine } = await import('../../src/lambda/stdout-line.js');

    // a short write is continued on the descriptor until the line is out
    fd.script = ['partial', 'partial', 'all'];
    writeStdoutLine('{"decision":"Allow"}');
    expect(fd.written.join('')).toBe('{"decision":"Allow"}\n');
    expect(streamed).toEqual([]);

    // the descriptor refuses after part of a line: the rest goes through the stream, nothing lost or doubled
    fd.written = [];
    fd.script = ['partial', 'EAGAIN'];
    writeStdoutLine('{"decision":"Deny","reason":"expired"}');
    expect(fd.written.join('') + streamed.join('')).toBe('{"decision":"Deny","reason":"expired"}\n');
    expect(streamed.length).toBe(1);

    // and every later line stays on the stream, so lines keep their order
    fd.script = ['all'];
    writeStdoutLine('{"n":3}');
    expect(streamed.slice(1)).toEqual(['{"n":3}\n']);
    expect(fd.written.join('')).toBe('{"dec'); // the 5 bytes the descriptor took before refusing
  });
});

describe('writeStdoutLine in a process whose standard output is a pipe', () => {
  it('delivers_every_line_complete_and_in_order_including_one_larger_than_the_pipe_buffer', async () => {
    const { build } = await import('esbuild');
    const dir = mkdtempSync(join(tmpdir(), 'ca-stdout-'));
    try {
      const entry = join(dir, 'entry.mjs');
      await build({
        stdin: {
          contents: `import { writeStdoutLine } from ${JSON.stringify(join(process.cwd(), 'src/lambda/stdout-line.ts'))};
for (let i = 0; i < 50; i++) writeStdoutLine(JSON.stringify({ i, pad: 'x'.repeat(i === 25 ? 300000 : 10) }));`,
          resolveDir: process.cwd(),
          loader: 'ts',
        },
        bundle: true,
        format: 'esm',
        platform: 'node',
        outfile: entry,
        logLevel: 'silent',
      });
      const p = spawnSync(process.execPath, [entry], { encoding: 'utf8', maxBuffer: 4 << 20, timeout: 20_000 });
      expect(p.status).toBe(0);
      const lines = p.stdout.split('\n');
      expect(lines.pop()).toBe('');
      expect(lines.map((l) => (JSON.parse(l) as { i: number }).i)).toEqual([...Array(50).keys()]);
      expect((JSON.parse(lines[25]!) as { pad: string }).pad.length).toBe(300000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
