// The first log line of a cold process, as the authorizer's first decision writes it (src/lambda/stdout-line.ts):
// argv[2] `stream` writes it with process.stdout (which builds a stream and a pipe handle on first use), `fd` with
// one fs.writeSync(1). node:tls is loaded first, as in the authorizer by then (net and streams are in memory).
// Standard output is a pipe (bench/run.mjs reads it); the time goes to standard error as {ms}.
import 'node:tls';
import { writeSync } from 'node:fs';

const line = JSON.stringify({ level: 'info', msg: 'authorizer decision', decision: 'Allow', reason: 'active', pad: 'x'.repeat(300) }) + '\n';
const t = performance.now();
if (process.argv[2] === 'stream') process.stdout.write(line);
else writeSync(1, line);
const ms = performance.now() - t;
writeSync(2, JSON.stringify({ ms }) + '\n');
