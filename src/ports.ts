import type { KeyObject } from 'node:crypto';

/**
 * The ports the domain needs. Adapters (local directory, AWS) implement them; only the composition
 * roots (the CLI's store factory and the Lambda handler) choose which.
 */

export type KeyType = 'ec-p256' | 'ec-p384' | 'rsa-2048' | 'rsa-3072' | 'rsa-4096';
export type CertKind = 'root' | 'intermediate' | 'client';
/**
 * active: in use (for an intermediate: the one that issues now).
 * superseded: replaced; a client certificate stays valid until graceUntil, an intermediate stays trusted.
 * revoked: invalid at once. retired: an intermediate removed from the truststore.
 */
export type CertStatus = 'active' | 'superseded' | 'revoked' | 'retired';

/** RFC 5280 section 5.3.1 CRLReason names. */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'cACompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'certificateHold'
  | 'removeFromCRL'
  | 'privilegeWithdrawn'
  | 'aACompromise';

/** One certificate the CA issued (or the CA's own), as kept in the registry. Dates are ISO-8601 UTC. */
export interface CertificateRecord {
  /** lowercase hex, no separators, the DER INTEGER's content octets */
  serial: string;
  kind: CertKind;
  /** for a client certificate the client id; for a CA certificate `root` or `intermediate` */
  clientId: string;
  status: CertStatus;
  /** lowercase hex SHA-256 of the certificate DER */
  fingerprint: string;
  subject: string;
  issuer: string;
  /** serial of the issuing CA certificate; absent on the root */
  issuerSerial?: string;
  notBefore: string;
  notAfter: string;
  keyType: KeyType;
  /** base64 DER SubjectPublicKeyInfo, kept so the certificate can be re-issued for the same key */
  publicKey: string;
  /** who made the key: the tool (generated), the client (csr), or the CA's custody (ca) */
  keyOrigin: 'generated' | 'csr' | 'ca';
  /** CA certificates only: the custody's reference to the private key */
  keyRef?: string;
  spiffeId?: string;
  certificatePem: string;
  createdAt: string;
  /** serial of the certificate that replaced this one */
  supersededBy?: string;
  supersededAt?: string;
  /** a superseded client certificate is accepted until this instant (never past notAfter) */
  graceUntil?: string;
  revokedAt?: string;
  revocationReason?: RevocationReason;
  retiredAt?: string;
  /** an intermediate a rotation created: the serial of the intermediate it replaced */
  rotatedFrom?: string;
  /**
   * an intermediate a rotation created: when that rotation ended (its last write). Absent while the rotation is
   * unfinished, so that running it again finishes it instead of starting another (see planRotation).
   */
  rotationCompletedAt?: string;
}

/** Signs with a CA private key that the caller never sees. */
export interface CaSigner {
  readonly keyType: KeyType;
  /** DER SubjectPublicKeyInfo */
  readonly publicKeySpki: Uint8Array;
  /**
   * Signs `data` with the hash the key type implies (SHA-256 for P-256 and RSA, SHA-384 for P-384),
   * RSA as PKCS#1 v1.5, ECDSA as a DER Ecdsa-Sig-Value: exactly what an X.509 signature field holds.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /**
   * The key itself, when the custody holds it in this process (files, SSM), so batch work can sign on worker
   * threads; absent when it never leaves its custody (KMS).
   */
  readonly inMemoryKey?: KeyObject;
}

/** Where CA private keys live: encrypted files, SSM SecureString, or non-exportable KMS keys. */
export interface KeyCustody {
  /** short name shown to users, e.g. `local-file`, `ssm`, `kms` */
  readonly kind: string;
  /**
   * Creates a new CA key under a fresh reference. `label` is a hint for the reference name
   * (`root`, `intermediate`), unique references are the custody's business.
   */
  create(label: string, keyType: KeyType): Promise<{ keyRef: string; signer: CaSigner }>;
  /** Opens an existing key for signing. Throws CaError notFound, or invalidInput on a wrong passphrase. */
  open(keyRef: string, keyType: KeyType): Promise<CaSigner>;
}

/** A change to the registry. `expect` makes an update conditional on the record's current status. */
export type RegistryChange =
  | { op: 'create'; record: CertificateRecord }
  | { op: 'update'; record: CertificateRecord; expect: CertStatus };

export interface RegistryQuery {
  kind?: CertKind;
  clientId?: string;
  status?: CertStatus;
}

/**
 * The certificate registry. Invariants every adapter enforces at commit time:
 * a created serial is new; at most one `active` client certificate per client id.
 */
export interface CertificateRegistry {
  /** A strongly consistent read by serial (the authorizer's one read per certificate). */
  get(serial: string): Promise<CertificateRecord | undefined>;
  /** Records matching the query, any order. */
  list(query?: RegistryQuery): Promise<CertificateRecord[]>;
  /**
   * Applies changes, each conditional (create: serial is new; update: current status equals `expect`);
   * a failed condition throws CaError conflict. With `atomic` all apply or none. Without it the adapter may
   * split the call into batches, but the changes that share a clientId (a client's new certificate and the
   * one it supersedes) always land together or not at all. Changes are given in order; the at-most-one-active
   * invariant is checked on the state after each client's group.
   */
  commit(changes: RegistryChange[], opts?: { atomic?: boolean }): Promise<void>;
}

/** The read side the authorizer needs, nothing more. */
export type RegistryReader = Pick<CertificateRegistry, 'get'>;

export interface TruststoreState {
  pem: string;
  /** the version API Gateway is given (an S3 VersionId, or a local version number) */
  version: string;
}

/** Publishes the truststore bundle (and, on AWS, points the API Gateway domains at the new version). */
export interface TruststorePublisher {
  /** what is published now, if anything */
  current(): Promise<TruststoreState | undefined>;
  /**
   * Makes the published truststore equal `pem`. Idempotent: publishes a new version only when the content
   * differs, and finishes a publication a crash interrupted (e.g. a domain not yet on the latest version).
   */
  sync(pem: string): Promise<{ state: TruststoreState; changed: boolean; warnings: string[] }>;
}

/** What a client receives. Private keys appear here once and are not kept by the CA. */
export interface ClientBundle {
  clientId: string;
  certificatePem: string;
  /** intermediate then root */
  chainPem: string;
  /** PKCS#8 PEM, only when the tool generated the key */
  privateKeyPem?: string;
  /** PKCS#12, only when asked for */
  pkcs12?: Uint8Array;
}

/** Hands bundles to clients: files in a directory, or SSM parameters. */
export interface BundleSink {
  readonly kind: string;
  /** Returns where it was delivered (paths or parameter names). Delivered means durable: recorded next. */
  deliver(bundle: ClientBundle): Promise<string[]>;
  /**
   * Delivers many bundles, each as `deliver` would (same locations, in the same order), all durable when it
   * resolves; a sink that can overlap the work (parallel writes, one wait for the disk) does it here. On a
   * failure some bundles may have been delivered: the caller records none of them, and a re-run re-issues.
   * Every sink implements it; callers holding a sink from elsewhere fall back to `deliver` one by one.
   */
  deliverMany?(bundles: ClientBundle[]): Promise<string[][]>;
}

/** Serialises state-changing commands against one store. */
export interface StoreLock {
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

/** One client certificate for a worker to sign: what the issuer's template needs. Dates in ms since epoch. */
export interface SigningItem {
  serial: string;
  commonName: string;
  organization?: string;
  notBefore: number;
  notAfter: number;
  spiffeId?: string;
  /** the key to certify; absent: the worker generates one of `generateKeyType` */
  publicKeySpki?: Uint8Array;
  generateKeyType?: KeyType;
}

export interface SigningResult {
  der: Uint8Array;
  publicKeySpki: Uint8Array;
  /** PKCS#8 PEM of a key the worker generated */
  privateKeyPem?: string;
}

/** CPU-bound signing on other cores, for batch work (rotation, provisioning, renew --all). */
export interface SigningPool {
  readonly size: number;
  sign(issuerCertificateDer: Uint8Array, key: KeyObject, keyType: KeyType, items: SigningItem[]): Promise<SigningResult[]>;
  close(): Promise<void>;
}

export interface Clock {
  now(): Date;
}

/** Everything the domain needs from one environment's store. */
export interface Store {
  readonly name: string;
  readonly custody: KeyCustody;
  readonly registry: CertificateRegistry;
  readonly truststore: TruststorePublisher;
  readonly lock: StoreLock;
  /** a short description for humans, e.g. `local directory ./pki` */
  describe(): string;
}
