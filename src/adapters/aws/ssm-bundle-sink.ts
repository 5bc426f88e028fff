import { DeleteParametersCommand, GetParametersByPathCommand, GetParametersCommand, PutParameterCommand, type SSMClient } from '@aws-sdk/client-ssm';
import type { BundleDescription, BundleSink, ClientBundle, StagedBundles } from '../../ports.js';
import { invalidInput } from '../../domain/errors.js';
import { validateClientId } from '../../domain/ids.js';
import { awsError } from './aws-errors.js';

export interface SsmBundleSinkOptions {
  client: SSMClient;
  /** validated parameter path prefix, without trailing slash */
  prefix: string;
  kmsKeyId?: string;
  warn: (message: string) => void;
}

/** A bundle's parameters, in the order they are put in place: key first, PKCS#12 last (see SsmBundleSink). */
type Name = 'private-key' | 'chain' | 'certificate' | 'pkcs12';
const NAMES: readonly Name[] = ['private-key', 'chain', 'certificate', 'pkcs12'];
const SERIAL = /^[0-9a-f]{1,40}$/;
/** GetParameters and DeleteParameters take at most 10 names. */
const BATCH = 10;

const chunks = <T>(xs: T[], n: number): T[][] => Array.from({ length: Math.ceil(xs.length / n) }, (_, i) => xs.slice(i * n, i * n + n));

/**
 * Delivers bundles as SecureString parameters `<prefix>/clients/<id>/certificate|chain|private-key|pkcs12`
 * (PKCS#12 base64). A bundle is first staged under `<prefix>/staged/<id>/<serial>/…`; publishing writes the
 * final parameters (a `pkcs12` the bundle lacks removed first, its own `pkcs12` written last) and then deletes
 * the staged ones (the staged `pkcs12` last), so what is still staged tells `recover` what is left to do.
 * Every call is safe to retry: puts overwrite, deletes ignore missing names.
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

  private finalName(id: string, n: Name): string {
    return `${this.o.prefix}/clients/${id}/${n}`;
  }

  private stagedName(id: string, serial: string, n: Name): string {
    return `${this.o.prefix}/staged/${id}/${serial}/${n}`;
  }

  private async put(name: string, value: string, what: string): Promise<void> {
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
      throw awsError(e, what, `SSM parameter ${name}`);
    }
  }

  private async remove(names: string[], what: string): Promise<void> {
    for (const batch of chunks(names, BATCH)) {
      try {
        // names that do not exist come back in InvalidParameters, not as an error
        await this.o.client.send(new DeleteParametersCommand({ Names: batch }));
      } catch (e) {
        throw awsError(e, what, `SSM parameters ${batch[0]}…`);
      }
    }
  }

  private async get(names: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const batch of chunks(names, BATCH)) {
      try {
        const r = await this.o.client.send(new GetParametersCommand({ Names: batch, WithDecryption: true }));
        for (const p of r.Parameters ?? []) out.set(p.Name!, p.Value!);
      } catch (e) {
        throw awsError(e, 'read the bundles in', `SSM parameters ${batch[0]}…`);
      }
    }
    return out;
  }

  async describe(clientIds: string[], o: { certificate?: boolean } = {}): Promise<BundleDescription[]> {
    const ids = clientIds.map((id) => validateClientId(id));
    const found = await this.get(ids.flatMap((id) => [...(o.certificate ? [this.finalName(id, 'certificate')] : []), this.finalName(id, 'pkcs12')]));
    const holders = ids.filter((id) => found.has(this.finalName(id, 'pkcs12')));
    const keys = await this.get(holders.map((id) => this.finalName(id, 'private-key')));
    return ids.map((id) => {
      const certificatePem = found.get(this.finalName(id, 'certificate'));
      const privateKeyPem = keys.get(this.finalName(id, 'private-key'));
      return { clientId: id, pkcs12: found.has(this.finalName(id, 'pkcs12')), ...(certificatePem ? { certificatePem } : {}), ...(privateKeyPem ? { privateKeyPem } : {}) };
    });
  }

  async stage(bundles: ClientBundle[]): Promise<StagedBundles> {
    if (bundles.length && !this.warned) {
      this.warned = true;
      this.o.warn('SSM delivery: a standard-tier account holds at most 10,000 parameters per Region (2 to 4 per client, twice that while a bundle is staged); beyond that use another destination or advanced parameters');
    }
    const staged = bundles.map((b) => {
      const id = validateClientId(b.clientId);
      if (!SERIAL.test(b.serial)) throw invalidInput(`invalid certificate serial ${JSON.stringify(b.serial)} for the bundle of ${id}`);
      const values = new Map<Name, string>();
      if (b.privateKeyPem) values.set('private-key', b.privateKeyPem);
      values.set('chain', b.chainPem).set('certificate', b.certificatePem);
      if (b.pkcs12) values.set('pkcs12', Buffer.from(b.pkcs12).toString('base64'));
      return { id, serial: b.serial, values };
    });
    const written: string[] = [];
    try {
      // One parameter after the other: SSM's PutParameter throughput limit, not latency, bounds this sink.
      for (const s of staged) {
        for (const [n, v] of s.values) {
          const name = this.stagedName(s.id, s.serial, n);
          written.push(name);
          await this.put(name, v, `stage the bundle of client ${s.id} in`);
        }
      }
    } catch (e) {
      await this.remove(written, 'remove staged bundles from').catch(() => undefined);
      throw e;
    }
    return {
      locations: staged.map((s) => (['certificate', 'chain', 'private-key', 'pkcs12'] as const).filter((n) => s.values.has(n)).map((n) => this.finalName(s.id, n))),
      publish: async () => {
        for (const s of staged) await this.publishOne(s.id, s.serial, s.values);
      },
    };
  }

  /** Final parameters from the staged values (see the class comment for the order), then the staged ones deleted. */
  private async publishOne(id: string, serial: string, values: Map<Name, string>): Promise<void> {
    const what = `put the bundle of client ${id} in place in`;
    if (!values.has('pkcs12')) await this.remove([this.finalName(id, 'pkcs12')], what);
    for (const n of NAMES) {
      const v = values.get(n);
      if (v !== undefined) await this.put(this.finalName(id, n), v, what);
    }
    const stagedNames = NAMES.filter((n) => values.has(n) && n !== 'pkcs12').map((n) => this.stagedName(id, serial, n));
    await this.remove(stagedNames, what);
    if (values.has('pkcs12')) await this.remove([this.stagedName(id, serial, 'pkcs12')], what);
  }

  async recover(recorded: (clientId: string, serial: string) => Promise<boolean>): Promise<{ published: string[]; discarded: string[] }> {
    const base = `${this.o.prefix}/staged/`;
    const groups = new Map<string, { id: string; serial: string; values: Map<Name, string>; names: string[] }>();
    let token: string | undefined;
    do {
      let r;
      try {
        r = await this.o.client.send(new GetParametersByPathCommand({ Path: base.slice(0, -1), Recursive: true, WithDecryption: true, NextToken: token }));
      } catch (e) {
        throw awsError(e, 'read the staged bundles in', `SSM path ${base}`);
      }
      for (const p of r.Parameters ?? []) {
        const [id, serial, n] = p.Name!.slice(base.length).split('/');
        const key = `${id}/${serial}`;
        const g = groups.get(key) ?? { id: id!, serial: serial!, values: new Map<Name, string>(), names: [] as string[] };
        groups.set(key, g);
        g.names.push(p.Name!);
        if ((NAMES as readonly string[]).includes(n!)) g.values.set(n as Name, p.Value!);
      }
      token = r.NextToken;
    } while (token);
    const published: string[] = [];
    const discarded: string[] = [];
    for (const g of groups.values()) {
      let valid = SERIAL.test(g.serial) && g.values.size > 0;
      try {
        validateClientId(g.id);
      } catch {
        valid = false;
      }
      if (valid && (await recorded(g.id, g.serial))) {
        await this.publishOne(g.id, g.serial, g.values);
        await this.remove(g.names, 'remove staged bundles from');
        published.push(g.id);
      } else {
        await this.remove(g.names, 'remove staged bundles from');
        discarded.push(g.id);
      }
    }
    return { published, discarded };
  }
}
