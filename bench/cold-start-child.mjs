// One Lambda cold start: a fresh Node process imports the authorizer bundle and invokes its handler once.
// argv: <index.mjs> <fixture.json>. The registry endpoint comes from AWS_ENDPOINT_URL (set by bench/run.mjs).
// The last stdout line is this script's JSON: {importMs, invokeMs, allowed} (times since process start), written
// with one fs.writeSync(1) like the handler's own log lines: through process.stdout, the harness would build a
// pipe stream of its own (~3 ms with an empty handler, bench/README.md) inside the wall time it reports.
import { readFileSync, writeSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';

const [bundle, fixture] = process.argv.slice(2);
const { event } = JSON.parse(readFileSync(fixture, 'utf8'));
const t0 = performance.now();
const { handler } = await import(pathToFileURL(bundle).href);
const t1 = performance.now();
const r = await handler(event);
const t2 = performance.now();
// either answer format: a simple response (CA_RESPONSE_MODE=simple) or an IAM policy (the default)
const allowed = 'isAuthorized' in r ? r.isAuthorized === true : r.policyDocument?.Statement?.[0]?.Effect === 'Allow';
writeSync(1, JSON.stringify({ startMs: t0, importMs: t1 - t0, invokeMs: t2 - t1, allowed }) + '\n');
if (!allowed) process.exitCode = 1;
