import { GetBucketVersioningCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { GetParameterCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { TruststorePublisher, TruststoreState } from '../../ports.js';
import { CaError, storageError } from '../../domain/errors.js';
import { sameTruststore } from '../../domain/truststore.js';
import { awsError } from './aws-errors.js';
import type { TruststoreDomains } from './api-gateway-domains.js';

export interface S3TruststoreOptions {
  client: S3Client;
  bucket: string;
  key: string;
  domains?: TruststoreDomains;
  /** API Gateway truststore warnings fail the sync (after being reported through `warn`) */
  strict?: boolean;
  warn: (message: string) => void;
  /**
   * An SSM String parameter that holds the object version API Gateway should use, written on every publication.
   * A deployed stack reads the domain's TruststoreVersion from it (`{{resolve:ssm:…}}`), so a stack update applies
   * the version `ca` published last, never the one the template was written with.
   */
  versionParameter?: { client: SSMClient; name: string };
}

/**
 * The truststore as one object in a versioned S3 bucket: each content change is a new object version, whose
 * VersionId every configured API Gateway domain is then pointed at (aws-facts: overwriting is not enough).
 */
export class S3Truststore implements TruststorePublisher {
  private versioningChecked?: Promise<void>;

  constructor(private readonly o: S3TruststoreOptions) {}

  get uri(): string {
    return `s3://${this.o.bucket}/${this.o.key}`;
  }

  private fail(e: unknown, verb: string): CaError {
    return awsError(e, verb, this.uri, (code) => (code === 'NoSuchBucket' ? this.noBucket() : undefined));
  }

  private noBucket(): CaError {
    return storageError(`S3 bucket ${this.o.bucket} not found`, `create it with versioning enabled (aws s3api create-bucket --bucket ${this.o.bucket}, then put-bucket-versioning) or fix \`bucket\` in the configuration`);
  }

  /** Refuses a missing bucket or one without versioning (API Gateway needs object versions). Checked once. */
  checkBucket(): Promise<void> {
    this.versioningChecked ??= (async () => {
      let status: string | undefined;
      try {
        status = (await this.o.client.send(new GetBucketVersioningCommand({ Bucket: this.o.bucket }))).Status;
      } catch (e) {
        throw this.fail(e, 'check versioning of');
      }
      if (status !== 'Enabled') {
        throw storageError(
          `S3 bucket ${this.o.bucket} does not have versioning enabled${status ? ` (it is ${status})` : ''}: API Gateway reads the truststore by object version`,
          `aws s3api put-bucket-versioning --bucket ${this.o.bucket} --versioning-configuration Status=Enabled`,
        );
      }
    })();
    this.versioningChecked.catch(() => (this.versioningChecked = undefined));
    return this.versioningChecked;
  }

  async current(): Promise<TruststoreState | undefined> {
    try {
      const r = await this.o.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.o.key }));
      const pem = (await r.Body?.transformToString('utf-8')) ?? '';
      return { pem, version: r.VersionId ?? 'null' };
    } catch (e) {
      if ((e as { name?: string }).name === 'NoSuchKey') return undefined;
      throw this.fail(e, 'read');
    }
  }

  /**
   * Nothing to compare within S3: what API Gateway and clients read is the object's latest version itself, so a
   * hand-made upload shows as a truststore that differs from the registry (see `ca status`). Whether each domain
   * points at that version is not read back here. The version parameter is: one that does not hold the published
   * version (a run stopped between the S3 write and the parameter, or a hand edit) is drift, which `ca truststore
   * publish` (and a re-run bootstrap) repairs.
   */
  async drift(): Promise<string[]> {
    const p = this.o.versionParameter;
    if (!p) return [];
    const cur = await this.current();
    if (!cur || cur.version === 'null') return [];
    let value: string | undefined;
    try {
      value = (await p.client.send(new GetParameterCommand({ Name: p.name }))).Parameter?.Value;
    } catch (e) {
      if ((e as { name?: string }).name !== 'ParameterNotFound') throw awsError(e, 'read', `SSM parameter ${p.name}`);
    }
    return value === cur.version ? [] : [`SSM parameter ${p.name} holds ${value === undefined ? 'nothing' : `version ${value}`}, not the published ${cur.version}`];
  }

  /** Writes the version to the version parameter unless it already holds it (a re-run writes nothing). */
  private async recordVersion(version: string): Promise<void> {
    const p = this.o.versionParameter;
    if (!p) return;
    const where = `SSM parameter ${p.name}`;
    try {
      const cur = await p.client.send(new GetParameterCommand({ Name: p.name }));
      if (cur.Parameter?.Value === version) return;
    } catch (e) {
      if ((e as { name?: string }).name !== 'ParameterNotFound') throw awsError(e, 'read', where);
    }
    try {
      await p.client.send(new PutParameterCommand({ Name: p.name, Value: version, Type: 'String', Overwrite: true, Description: `truststore version of ${this.uri}, written by ca` }));
    } catch (e) {
      throw awsError(e, 'record the truststore version in', where);
    }
  }

  async sync(pem: string): Promise<{ state: TruststoreState; changed: boolean; warnings: string[] }> {
    await this.checkBucket();
    const cur = await this.current();
    let state: TruststoreState;
    let changed = false;
    // An object written before versioning was enabled has VersionId "null", which API Gateway cannot pin.
    if (cur && cur.version !== 'null' && sameTruststore(cur.pem, pem)) {
      state = cur;
    } else {
      let version: string | undefined;
      try {
        const r = await this.o.client.send(new PutObjectCommand({ Bucket: this.o.bucket, Key: this.o.key, Body: pem, ContentType: 'application/x-pem-file' }));
        version = r.VersionId;
      } catch (e) {
        throw this.fail(e, 'publish the truststore to');
      }
      if (!version) throw storageError(`S3 returned no version for ${this.uri}`, `enable versioning: aws s3api put-bucket-versioning --bucket ${this.o.bucket} --versioning-configuration Status=Enabled`);
      state = { pem, version };
      changed = true;
    }
    await this.recordVersion(state.version);
    const warnings = this.o.domains ? (await this.o.domains.point(this.uri, state.version)).warnings : [];
    if (this.o.strict && warnings.length) {
      for (const w of warnings) this.o.warn(`truststore warning: ${w}`);
      throw new CaError('verification', `API Gateway reported ${warnings.length} truststore warning(s) for ${this.uri} version ${state.version}`, {
        hint: 'fix the truststore (`ca verify-truststore`), or run without strict mode to accept the warnings',
      });
    }
    return { state, changed, warnings };
  }
}
