import { PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { BundleSink, ClientBundle } from '../../ports.js';
import { validateClientId } from '../../domain/ids.js';
import { awsError } from './aws-errors.js';

export interface SsmBundleSinkOptions {
  client: SSMClient;
  /** validated parameter path prefix, without trailing slash */
  prefix: string;
  kmsKeyId?: string;
  warn: (message: string) => void;
}

/**
 * Delivers bundles as SecureString parameters `<prefix>/clients/<id>/certificate|chain|private-key|pkcs12`
 * (PKCS#12 base64), overwritten on re-issue. The key is written first, so a crash never pairs a new
 * certificate with an old key.
 */
export class SsmBundleSink implements BundleSink {
  readonly kind = 'ssm';
  private warned = false;

  constructor(private readonly o: SsmBundleSinkOptions) {}

  /**
   * Nothing to probe: whether PutParameter is allowed on the prefix (IAM, the KMS key) is only known by
   * writing a parameter, and a probe parameter would be a write of its own. The first delivery reports it.
   */
  async preflight(): Promise<void> {}

  async deliver(b: ClientBundle): Promise<string[]> {
    if (!this.warned) {
      this.warned = true;
      this.o.warn('SSM delivery: a standard-tier account holds at most 10,000 parameters per Region (2 to 4 per client); beyond that use another destination or advanced parameters');
    }
    const base = `${this.o.prefix}/clients/${validateClientId(b.clientId)}`;
    const params: [string, string][] = [];
    if (b.privateKeyPem) params.push([`${base}/private-key`, b.privateKeyPem]);
    if (b.pkcs12) params.push([`${base}/pkcs12`, Buffer.from(b.pkcs12).toString('base64')]);
    params.push([`${base}/chain`, b.chainPem], [`${base}/certificate`, b.certificatePem]);
    for (const [name, value] of params) {
      try {
        await this.o.client.send(
          new PutParameterCommand({
            Name: name,
            Value: value,
            Type: 'SecureString',
            ...(this.o.kmsKeyId ? { KeyId: this.o.kmsKeyId } : {}),
            Overwrite: true,
            // A chain of two RSA-4096 certificates passes the standard tier's 4 KB; this tier switches to
            // advanced only for such a parameter.
            Tier: 'Intelligent-Tiering',
          }),
        );
      } catch (e) {
        throw awsError(e, `deliver the bundle of client ${b.clientId} to`, `SSM parameter ${name}`);
      }
    }
    return params.map(([n]) => n);
  }

  /** One bundle after the other: SSM's PutParameter throughput limit, not the disk, is what bounds this sink. */
  async deliverMany(bundles: ClientBundle[]): Promise<string[][]> {
    const out: string[][] = [];
    for (const b of bundles) out.push(await this.deliver(b));
    return out;
  }
}
