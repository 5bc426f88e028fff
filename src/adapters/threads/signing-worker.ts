import { sign, type KeyObject } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import type { KeyType, SigningItem, SigningResult } from '../../ports.js';
import { signatureAlgorithmOf } from '../../domain/keys.js';
import { ClientTemplate, generateClientKey } from '../../domain/template.js';

/** A signing thread: the same template and key code as the main thread, fed batches by SigningPool. */
export interface SigningRequest {
  id: number;
  issuerCertificateDer: Uint8Array;
  key: KeyObject;
  keyType: KeyType;
  items: SigningItem[];
}

let template: { der: string; tpl: ClientTemplate } | undefined;

parentPort!.on('message', (m: SigningRequest) => {
  try {
    const derKey = Buffer.from(m.issuerCertificateDer).toString('base64');
    if (template?.der !== derKey) template = { der: derKey, tpl: new ClientTemplate(m.issuerCertificateDer, m.keyType) };
    const tpl = template.tpl;
    const { hash } = signatureAlgorithmOf(m.keyType);
    const results: SigningResult[] = m.items.map((it) => {
      const generated = it.publicKeySpki ? undefined : generateClientKey(it.generateKeyType!);
      const spki = it.publicKeySpki ?? generated!.spki;
      const tbs = tpl.tbs({ ...it, notBefore: new Date(it.notBefore), notAfter: new Date(it.notAfter), publicKeySpki: spki });
      return { der: tpl.certificate(tbs, sign(hash, tbs, m.key)), publicKeySpki: spki, ...(generated ? { privateKeyPem: generated.privateKeyPem } : {}) };
    });
    parentPort!.postMessage({ id: m.id, results });
  } catch (e) {
    parentPort!.postMessage({ id: m.id, error: (e as Error).message });
  }
});
