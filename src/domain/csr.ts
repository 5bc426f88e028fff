import { verify as verifySignature } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { BasicConstraints, Extensions, KeyUsage, KeyUsageFlags, id_ce_basicConstraints, id_ce_keyUsage } from '@peculiar/asn1-x509';
import type { KeyType } from '../ports.js';
import { CaError, invalidInput } from './errors.js';
import { pemBlocks } from './der.js';
import { keyTypeOf, publicKeyFromSpki } from './keys.js';

/** A CSR is a few KB at most; anything much larger is not a CSR. */
export const MAX_CSR_BYTES = 64 * 1024;

const CSR_SIGNATURES: Record<string, string> = {
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';

export interface CheckedCsr {
  publicKeySpki: Uint8Array;
  keyType: KeyType;
}

/** The bytes of the first element inside a DER SEQUENCE: the signed CertificationRequestInfo. */
function firstElement(der: Buffer): Buffer {
  const inner = (off: number) => {
    const b = der[off + 1]!;
    if (b < 0x80) return { hdr: 2, len: b };
    const n = b & 0x7f;
    let len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + der[off + 2 + i]!;
    return { hdr: 2 + n, len };
  };
  const outer = inner(0);
  const start = outer.hdr;
  const info = inner(start);
  return der.subarray(start, start + info.hdr + info.len);
}

/**
 * Checks a PKCS#10 CSR and returns only its public key: subject and extensions of the certificate always come
 * from the client profile. Refuses malformed input, a broken signature, keys API Gateway would refuse, and a
 * request to be a CA.
 * @throws CaError invalidInput naming the problem
 */
export function checkCsr(text: string): CheckedCsr {
  const size = Buffer.byteLength(text);
  if (size > MAX_CSR_BYTES) throw invalidInput(`CSR is too large (${size} bytes; a CSR is a few KB)`);
  let der: Buffer;
  try {
    const blocks = pemBlocks(text, 'CERTIFICATE REQUEST');
    const legacy = blocks.length ? blocks : pemBlocks(text, 'NEW CERTIFICATE REQUEST');
    if (legacy.length !== 1) throw new Error(legacy.length ? 'more than one CSR' : 'no BEGIN CERTIFICATE REQUEST block');
    der = legacy[0]!;
  } catch (e) {
    throw invalidInput(`malformed CSR: ${(e as Error).message}`, 'give a PEM file made with e.g. `openssl req -new -key client.key -out client.csr`');
  }
  let csr: CertificationRequest;
  try {
    csr = AsnConvert.parse(der, CertificationRequest);
  } catch {
    throw invalidInput('malformed CSR: not a PKCS#10 certification request');
  }
  const spki = new Uint8Array(AsnConvert.serialize(csr.certificationRequestInfo.subjectPKInfo));
  let keyType: KeyType;
  try {
    keyType = keyTypeOf(publicKeyFromSpki(spki));
  } catch (e) {
    if ((e as { code?: string }).code === 'invalidInput') throw invalidInput(`CSR key refused: ${(e as Error).message}`, (e as { hint?: string }).hint);
    throw invalidInput('malformed CSR: unreadable public key');
  }
  try {
    for (const attr of csr.certificationRequestInfo.attributes) {
      if (attr.type !== OID_EXTENSION_REQUEST) continue;
      for (const v of attr.values) {
        const exts = AsnConvert.parse(v, Extensions);
        for (const e of exts) {
          if (e.extnID === id_ce_basicConstraints && AsnConvert.parse(e.extnValue, BasicConstraints).cA) {
            throw invalidInput('CSR asks to be a CA (basicConstraints cA=true): client certificates are never CAs');
          }
          if (e.extnID === id_ce_keyUsage) {
            const ku = AsnConvert.parse(e.extnValue, KeyUsage).toNumber();
            if (ku & (KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign)) throw invalidInput('CSR asks for keyCertSign/cRLSign key usage: client certificates are never CAs');
          }
        }
      }
    }
  } catch (e) {
    if (e instanceof CaError) throw e;
    throw invalidInput('malformed CSR: unreadable extension request');
  }
  const hash = CSR_SIGNATURES[csr.signatureAlgorithm.algorithm];
  if (!hash) throw invalidInput(`CSR signature algorithm ${csr.signatureAlgorithm.algorithm} is not accepted`, 'sign the CSR with SHA-256 or stronger (RSA PKCS#1 or ECDSA)');
  const ok = verifySignature(hash, firstElement(der), publicKeyFromSpki(spki), Buffer.from(csr.signature));
  if (!ok) throw invalidInput('CSR signature does not verify: the request was altered or not signed by its key');
  return { publicKeySpki: spki, keyType };
}
