import {
  createCipheriv,
  createHash,
  createHmac,
  createPrivateKey,
  pbkdf2Sync,
  randomBytes,
  X509Certificate,
} from 'node:crypto';
import {
  AsnBmpStringConverter,
  AsnConvert,
  AsnProp,
  AsnPropTypes,
  AsnType,
  AsnTypeTypes,
  OctetString,
} from '@peculiar/asn1-schema';
import { AlgorithmIdentifier } from '@peculiar/asn1-x509';
import { EncryptedData as EncryptedKeyData } from '@peculiar/asn1-pkcs8';
import {
  AuthenticatedSafe,
  CertBag,
  MacData,
  PFX,
  PKCS12Attribute,
  PKCS8ShroudedKeyBag,
  SafeBag,
  SafeContents,
  id_certBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
} from '@peculiar/asn1-pfx';

import type { ClientBundle } from '../ports.js';
import { pemBlocks } from './der.js';
import { invalidInput } from './errors.js';

/**
 * The bundle with its PKCS#12 (key, certificate, chain) built from `privateKeyPem` (default: the key the bundle
 * carries): the one place a bundle's `.p12` is made, at issue and when a re-issue rebuilds it.
 * @throws CaError invalidInput when there is no key, or it does not belong to the bundle's certificate
 */
export function withPkcs12(b: ClientBundle, password: string, privateKeyPem = b.privateKeyPem): ClientBundle {
  if (!privateKeyPem) throw invalidInput(`the bundle of ${b.clientId} has no private key to put in a PKCS#12`);
  let keyDer: Buffer;
  try {
    keyDer = createPrivateKey(privateKeyPem).export({ format: 'der', type: 'pkcs8' });
  } catch (e) {
    throw invalidInput(`the private key in the bundle of ${b.clientId} cannot be read`, undefined, e);
  }
  try {
    return {
      ...b,
      pkcs12: buildPkcs12({
        privateKeyPkcs8Der: keyDer,
        certificateDer: pemBlocks(b.certificatePem, 'CERTIFICATE')[0]!,
        caCertificatesDer: pemBlocks(b.chainPem, 'CERTIFICATE'),
        password,
        friendlyName: b.clientId,
      }),
    };
  } catch (e) {
    throw invalidInput(`failed to build the PKCS#12 of ${b.clientId}: ${(e as Error).message}`, undefined, e);
  } finally {
    keyDer.fill(0);
  }
}

/** Inputs for {@link buildPkcs12}. */
export interface Pkcs12Options {
  /** PKCS#8 PrivateKeyInfo, DER (unencrypted) of the client key. */
  privateKeyPkcs8Der: Uint8Array;
  /** The client's certificate, DER. */
  certificateDer: Uint8Array;
  /** CA certificates to include (issuing intermediate first, then root), DER. */
  caCertificatesDer: Uint8Array[];
  /** Protects both the PBES2 encryption and the integrity MAC; must not be empty. */
  password: string;
  /** Stored as the friendlyName attribute on the key and leaf certificate bags. */
  friendlyName?: string;
  /**
   * PBKDF2 and MAC iteration count. Defaults to 2048, OpenSSL 3's
   * PKCS12_DEFAULT_ITER, so bundles match `openssl pkcs12 -export` and stay
   * quick to open on constrained clients.
   */
  iterations?: number;
}

const DEFAULT_ITERATIONS = 2048;
const SALT_LENGTH = 16;
/** RFC 7292 appendix B.3: ID 3 derives the integrity (MAC) key. */
const MAC_KEY_ID = 3;

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  hmacWithSha256: '1.2.840.113549.2.9',
  aes256Cbc: '2.16.840.1.101.3.4.1.42',
  sha256: '2.16.840.1.101.3.4.2.1',
  friendlyName: '1.2.840.113549.1.9.20',
  localKeyId: '1.2.840.113549.1.9.21',
} as const;

type PropOptions = Parameters<typeof AsnProp>[0];

/** Registers a SEQUENCE schema without decorator syntax, so it works under any TS/JS transform. */
function sequence<T extends object>(
  ctor: new () => T,
  props: { [K in keyof T]?: PropOptions },
): void {
  AsnType({ type: AsnTypeTypes.Sequence })(ctor);
  for (const [key, options] of Object.entries(props)) {
    AsnProp(options as PropOptions)(ctor.prototype as object, key);
  }
}

// The remaining structures are defined locally because @peculiar/asn1-cms is
// not a direct dependency and no @peculiar package models PBES2 (RFC 8018).

/** ContentInfo, RFC 5652 section 3. */
class ContentInfo {
  contentType = '';
  content: ArrayBuffer = new ArrayBuffer(0);
}
sequence(ContentInfo, {
  contentType: { type: AsnPropTypes.ObjectIdentifier },
  content: { type: AsnPropTypes.Any, context: 0 },
});

/** EncryptedContentInfo, RFC 5652 section 6.1. */
class EncryptedContentInfo {
  contentType = '';
  contentEncryptionAlgorithm = new AlgorithmIdentifier();
  encryptedContent = new OctetString();
}
sequence(EncryptedContentInfo, {
  contentType: { type: AsnPropTypes.ObjectIdentifier },
  contentEncryptionAlgorithm: { type: AlgorithmIdentifier },
  encryptedContent: { type: OctetString, context: 0, implicit: true },
});

/** EncryptedData, RFC 5652 section 8. */
class CmsEncryptedData {
  version = 0;
  encryptedContentInfo = new EncryptedContentInfo();
}
sequence(CmsEncryptedData, {
  version: { type: AsnPropTypes.Integer },
  encryptedContentInfo: { type: EncryptedContentInfo },
});

/** PBKDF2-params, RFC 8018 appendix A.2; keyLength is omitted as AES-256 fixes it. */
class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0;
  prf = new AlgorithmIdentifier();
}
sequence(Pbkdf2Params, {
  salt: { type: OctetString },
  iterationCount: { type: AsnPropTypes.Integer },
  prf: { type: AlgorithmIdentifier },
});

/** PBES2-params, RFC 8018 appendix A.4. */
class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();
}
sequence(Pbes2Params, {
  keyDerivationFunc: { type: AlgorithmIdentifier },
  encryptionScheme: { type: AlgorithmIdentifier },
});

/** Builds a password-protected PKCS#12 (RFC 7292) bundle of the client key, its certificate and the CA chain. */
export function buildPkcs12(opts: Pkcs12Options): Uint8Array {
  const { password, friendlyName } = opts;
  const iterations = opts.iterations ?? DEFAULT_ITERATIONS;
  validate(opts, iterations);

  const localKeyId = createHash('sha1').update(opts.certificateDer).digest();
  const attributes = bagAttributes(localKeyId, friendlyName);

  const certBags = [opts.certificateDer, ...opts.caCertificatesDer].map(
    (der, index) =>
      new SafeBag({
        bagId: id_certBag,
        bagValue: serialize(
          new CertBag({ certId: id_x509Certificate, certValue: serialize(new OctetString(der)) }),
        ),
        bagAttributes: index === 0 ? attributes : undefined,
      }),
  );

  const shrouded = pbes2Encrypt(opts.privateKeyPkcs8Der, password, iterations);
  const keyBag = new SafeBag({
    bagId: id_pkcs8ShroudedKeyBag,
    bagValue: serialize(
      new PKCS8ShroudedKeyBag({
        encryptionAlgorithm: shrouded.algorithm,
        encryptedData: new EncryptedKeyData(shrouded.ciphertext),
      }),
    ),
    bagAttributes: attributes,
  });

  // Same layout as OpenSSL: certificates in an encrypted SafeContents, the
  // already-shrouded key in a plain one (RFC 7292 section 4.1).
  const certSafe = pbes2Encrypt(
    new Uint8Array(serialize(new SafeContents(certBags))),
    password,
    iterations,
  );
  const encryptedData = new CmsEncryptedData();
  encryptedData.encryptedContentInfo.contentType = OID.data;
  encryptedData.encryptedContentInfo.contentEncryptionAlgorithm = certSafe.algorithm;
  encryptedData.encryptedContentInfo.encryptedContent = new OctetString(certSafe.ciphertext);

  const authenticatedSafe = new Uint8Array(
    serialize(
      new AuthenticatedSafe([
        contentInfo(OID.encryptedData, serialize(encryptedData)),
        contentInfo(OID.data, serialize(new OctetString(serialize(new SafeContents([keyBag]))))),
      ]),
    ),
  );

  const pfx = new PFX({
    version: 3,
    authSafe: contentInfo(OID.data, serialize(new OctetString(authenticatedSafe))),
    macData: macData(authenticatedSafe, password, iterations),
  });
  return new Uint8Array(serialize(pfx));
}

function validate(opts: Pkcs12Options, iterations: number): void {
  if (typeof opts.password !== 'string' || opts.password.length === 0) {
    throw new Error('PKCS#12 password must not be empty');
  }
  if (!Number.isSafeInteger(iterations) || iterations < 1) {
    throw new Error(`PKCS#12 iterations must be a positive integer, got ${String(iterations)}`);
  }
  const certificate = parseDerCertificate(opts.certificateDer, 'client certificate');
  opts.caCertificatesDer.forEach((der, index) => parseDerCertificate(der, `CA certificate #${index + 1}`));
  let privateKey;
  try {
    privateKey = createPrivateKey({ key: Buffer.from(opts.privateKeyPkcs8Der), format: 'der', type: 'pkcs8' });
  } catch {
    throw new Error('PKCS#12 private key is not a valid unencrypted PKCS#8 DER key');
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new Error('PKCS#12 private key does not match the client certificate');
  }
}

function serialize(value: unknown): ArrayBuffer {
  return AsnConvert.serialize(value);
}

/** Parses a DER certificate; X509Certificate would also accept PEM, which must not end up in a bag. */
function parseDerCertificate(der: Uint8Array, label: string): X509Certificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    throw new Error(`PKCS#12 ${label} is not a valid DER X.509 certificate`);
  }
  if (!certificate.raw.equals(der)) {
    throw new Error(`PKCS#12 ${label} is not a valid DER X.509 certificate`);
  }
  return certificate;
}

function contentInfo(contentType: string, content: ArrayBuffer): ContentInfo {
  const info = new ContentInfo();
  info.contentType = contentType;
  info.content = content;
  return info;
}

function bagAttributes(localKeyId: Uint8Array, friendlyName: string | undefined): PKCS12Attribute[] {
  const attributes = [attribute(OID.localKeyId, serialize(new OctetString(localKeyId)))];
  if (friendlyName !== undefined && friendlyName !== '') {
    attributes.push(attribute(OID.friendlyName, AsnBmpStringConverter.toASN(friendlyName).toBER()));
  }
  // DER requires SET OF members in ascending order of their encodings (X.690 11.6).
  return attributes
    .map((attr) => ({ attr, der: Buffer.from(serialize(attr)) }))
    .sort((a, b) => Buffer.compare(a.der, b.der))
    .map(({ attr }) => attr);
}

function attribute(attrId: string, value: ArrayBuffer): PKCS12Attribute {
  // PKCS12Attribute's constructor drops its params, so assign the fields directly.
  const attr = new PKCS12Attribute();
  attr.attrId = attrId;
  attr.attrValues = [value];
  return attr;
}

/** PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, RFC 8018 section 6.2. */
function pbes2Encrypt(
  plaintext: Uint8Array,
  password: string,
  iterations: number,
): { algorithm: AlgorithmIdentifier; ciphertext: Uint8Array } {
  const salt = randomBytes(SALT_LENGTH);
  const iv = randomBytes(16);
  // PBES2 takes the password as an octet string; UTF-8 is what OpenSSL 3 and
  // Node's TLS stack pass, unlike the BMPString used by the PKCS#12 KDF.
  const key = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  key.fill(0);

  const kdfParams = new Pbkdf2Params();
  kdfParams.salt = new OctetString(salt);
  kdfParams.iterationCount = iterations;
  kdfParams.prf = new AlgorithmIdentifier({ algorithm: OID.hmacWithSha256, parameters: null });

  const params = new Pbes2Params();
  params.keyDerivationFunc = new AlgorithmIdentifier({
    algorithm: OID.pbkdf2,
    parameters: serialize(kdfParams),
  });
  params.encryptionScheme = new AlgorithmIdentifier({
    algorithm: OID.aes256Cbc,
    parameters: serialize(new OctetString(iv)),
  });

  return {
    algorithm: new AlgorithmIdentifier({ algorithm: OID.pbes2, parameters: serialize(params) }),
    ciphertext,
  };
}

/** HMAC-SHA256 over the AuthenticatedSafe, RFC 7292 section 5 and appendix B. */
function macData(authenticatedSafe: Uint8Array, password: string, iterations: number): MacData {
  const salt = randomBytes(SALT_LENGTH);
  const key = pkcs12Kdf(password, salt, MAC_KEY_ID, iterations, 32);
  const digest = createHmac('sha256', key).update(authenticatedSafe).digest();
  key.fill(0);

  const data = new MacData({ macSalt: new OctetString(salt), iterations });
  data.mac.digestAlgorithm = new AlgorithmIdentifier({ algorithm: OID.sha256, parameters: null });
  data.mac.digest = new OctetString(digest);
  return data;
}

/** PKCS#12 key derivation with SHA-256 (u = 32, v = 64), RFC 7292 appendix B.2. */
function pkcs12Kdf(password: string, salt: Uint8Array, id: number, iterations: number, length: number): Buffer {
  const u = 32;
  const v = 64;
  // Appendix B.1: the password is a BMPString (UTF-16BE) with a two-byte NUL terminator.
  const bmpPassword = Buffer.concat([Buffer.from(password, 'utf16le').swap16(), Buffer.alloc(2)]);

  const diversifier = Buffer.alloc(v, id);
  const input = Buffer.concat([repeatToBlocks(salt, v), repeatToBlocks(bmpPassword, v)]);
  const blocks: Buffer[] = [];

  for (let produced = 0; produced < length; produced += u) {
    let a = createHash('sha256').update(diversifier).update(input).digest();
    for (let r = 1; r < iterations; r++) {
      a = createHash('sha256').update(a).digest();
    }
    blocks.push(a);

    if (produced + u < length) {
      // Step 6C: I_j = (I_j + B + 1) mod 2^(8v) for each v-byte block of I.
      const b = repeatToBlocks(a, v);
      for (let offset = 0; offset < input.length; offset += v) {
        let carry = 1;
        for (let k = v - 1; k >= 0; k--) {
          const sum = input[offset + k]! + b[k]! + carry;
          input[offset + k] = sum & 0xff;
          carry = sum >>> 8;
        }
      }
    }
  }
  bmpPassword.fill(0);
  input.fill(0);
  return Buffer.concat(blocks).subarray(0, length);
}

/** Repeats `data` to fill the smallest multiple of `v` bytes that holds it (RFC 7292 B.2 steps 2-3). */
function repeatToBlocks(data: Uint8Array, v: number): Buffer {
  const out = Buffer.alloc(v * Math.ceil(data.length / v));
  for (let i = 0; i < out.length; i++) {
    out[i] = data[i % data.length]!;
  }
  return out;
}
