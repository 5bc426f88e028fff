/**
 * AWS Signature Version 4 for one request shape: a POST of a JSON body to an endpoint's root path, with no
 * query string (DynamoDB's JSON protocol). node:crypto only: the authorizer signs one GetItem per registry
 * miss and a general-purpose signer costs its cold start more than the request it signs.
 *
 * Follows "Create a signed AWS API request" (canonical request, string to sign, derived key) and sends the
 * same signed headers as the AWS SDK clients (x-amz-content-sha256 included); test/lambda compares the result
 * with DynamoDBClient's own request header for header.
 */
import { createHash, createHmac } from 'node:crypto';

export interface SigV4Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

const ALGORITHM = 'AWS4-HMAC-SHA256';
const sha256Hex = (data: string) => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: string | Buffer, data: string) => createHmac('sha256', key).update(data, 'utf8').digest();

/** `20260301T123456Z` */
function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

/** Signs POST requests for one service in one region with fixed credentials; the derived key is kept per day. */
export class PostSigner {
  private key?: { day: string; bytes: Buffer };

  constructor(
    private readonly credentials: SigV4Credentials,
    private readonly region: string,
    private readonly service: string,
  ) {}

  /**
   * @param headers the request's own headers, names in lower case (`host`, `content-type`, …): all are signed
   * @returns those headers plus x-amz-date, x-amz-content-sha256, x-amz-security-token (with a session token)
   *   and authorization
   */
  sign(path: string, headers: Record<string, string>, body: string, at: Date): Record<string, string> {
    const stamp = amzDate(at);
    const day = stamp.slice(0, 8);
    const all: Record<string, string> = { ...headers, 'x-amz-content-sha256': sha256Hex(body), 'x-amz-date': stamp };
    if (this.credentials.sessionToken) all['x-amz-security-token'] = this.credentials.sessionToken;
    const names = Object.keys(all).sort();
    const signedHeaders = names.join(';');
    const canonicalHeaders = names.map((n) => `${n}:${all[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
    const canonicalRequest = ['POST', path, '', canonicalHeaders, signedHeaders, all['x-amz-content-sha256']].join('\n');
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    const stringToSign = [ALGORITHM, stamp, scope, sha256Hex(canonicalRequest)].join('\n');
    const signature = createHmac('sha256', this.signingKey(day)).update(stringToSign, 'utf8').digest('hex');
    all.authorization = `${ALGORITHM} Credential=${this.credentials.accessKeyId}/${scope}, SignedHeaders=${signedHeaders}, Signature=${signature}`;
    return all;
  }

  private signingKey(day: string): Buffer {
    if (this.key?.day !== day) {
      const bytes = hmac(hmac(hmac(hmac(`AWS4${this.credentials.secretAccessKey}`, day), this.region), this.service), 'aws4_request');
      this.key = { day, bytes };
    }
    return this.key.bytes;
  }
}
