// The peer of ./transport-own.ts: the same two POSTs over one kept-alive connection with node:https (an Agent
// with keepAlive and one socket, as the registry reader used before it had its own client).
import { readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';

const [endpoint, caFile] = process.argv.slice(2) as [string, string];
const origin = new URL(endpoint);
const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: [readFileSync(caFile, 'utf8')] });
const headers = { 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' };
const post = (body: string) =>
  new Promise<{ status: number; body: Buffer }>((resolve, reject) => {
    const req = request({ hostname: origin.hostname, port: origin.port, method: 'POST', path: '/', headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) }, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
let bytes = 0;
for (const pk of ['CERT#1', 'CERT#2']) {
  const a = await post(JSON.stringify({ TableName: 't', Key: { pk: { S: pk } }, ConsistentRead: true }));
  if (a.status !== 200) throw new Error(`HTTP ${a.status}`);
  bytes += a.body.length;
}
agent.destroy();
process.stdout.write(JSON.stringify({ bytes }) + '\n');
