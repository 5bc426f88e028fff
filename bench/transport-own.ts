// One cold process of the registry transport alone (bench "authorizer" section, row "registry transport"): two
// sequential POSTs over one kept-alive HTTPS connection with src/adapters/aws/http1-client.ts (node:tls).
// argv: <endpoint> <ca.pem>. Its peer is ./transport-node.ts; the same requests with node:https.
import { readFileSync } from 'node:fs';
import { Http1Client } from '../src/adapters/aws/http1-client.js';

const [endpoint, caFile] = process.argv.slice(2) as [string, string];
const origin = new URL(endpoint);
const client = new Http1Client({ origin, ca: [readFileSync(caFile, 'utf8')], maxResponseBytes: 1 << 20, maxConnections: 1 });
const headers = { host: origin.host, 'content-type': 'application/x-amz-json-1.0', 'x-amz-target': 'DynamoDB_20120810.GetItem' };
let bytes = 0;
for (const pk of ['CERT#1', 'CERT#2']) {
  const a = await client.post('/', headers, JSON.stringify({ TableName: 't', Key: { pk: { S: pk } }, ConsistentRead: true })).answer;
  if (a.status !== 200) throw new Error(`HTTP ${a.status}`);
  bytes += a.body.length;
}
client.close();
process.stdout.write(JSON.stringify({ bytes }) + '\n');
