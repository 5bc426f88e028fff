import { GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import type { CrlPublisher } from '../../ports.js';
import { crlPem } from '../../domain/crl.js';
import { awsError } from './aws-errors.js';

export interface S3CrlsOptions {
  client: S3Client;
  /** the truststore's bucket (versioned) */
  bucket: string;
  /** key prefix, `crl/` */
  prefix?: string;
}

/**
 * CRLs as objects in the truststore bucket: `crl/<name>.crl` (DER, `application/pkix-crl` as RFC 5280 4.2.1.13
 * asks an HTTP distribution point to serve it) and `crl/<name>.crl.pem` (PEM, the form an ALB trust store takes
 * through AddTrustStoreRevocations). A PutObject replaces the whole object (a new version in the versioned bucket),
 * so a retried write is harmless.
 */
export class S3Crls implements CrlPublisher {
  private readonly prefix: string;

  constructor(private readonly o: S3CrlsOptions) {
    this.prefix = o.prefix ?? 'crl/';
  }

  private keys(name: string): [string, string] {
    return [`${this.prefix}${name}.crl`, `${this.prefix}${name}.crl.pem`];
  }

  locations(name: string): string[] {
    return this.keys(name).map((k) => `s3://${this.o.bucket}/${k}`);
  }

  async current(name: string): Promise<Uint8Array | undefined> {
    const [key] = this.keys(name);
    try {
      const r = await this.o.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: key }));
      return r.Body ? await r.Body.transformToByteArray() : undefined;
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
      throw awsError(e, 'read', `s3://${this.o.bucket}/${key}`);
    }
  }

  async publish(name: string, der: Uint8Array): Promise<string[]> {
    const [derKey, pemKey] = this.keys(name);
    const puts = [
      { Key: derKey, Body: der, ContentType: 'application/pkix-crl' },
      { Key: pemKey, Body: crlPem(der), ContentType: 'application/x-pem-file' },
    ];
    for (const p of puts) {
      try {
        await this.o.client.send(new PutObjectCommand({ Bucket: this.o.bucket, ...p }));
      } catch (e) {
        throw awsError(e, 'publish the CRL to', `s3://${this.o.bucket}/${p.Key}`);
      }
    }
    return this.locations(name);
  }
}
