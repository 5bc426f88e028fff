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
  /**
   * the validity length in days the certificate was asked for (before capping at its issuer's end); renew and
   * rotation issue a client's next certificate with the same length
   */
  validityDays?: number;
  /** the root only: the CA profile recorded at bootstrap, which every later operation issues with */
  profile?: CaProfile;
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
  /**
   * a record `ca import` adopted from an earlier setup: where it came from (`<table>#<decimal serial>` for a
   * client, the SSM path of a CA certificate). Kept on a client's re-issued certificates, so that the authorizer
   * goes on offering the context keys that setup's backends read (src/lambda/README.md).
   */
  importedFrom?: string;
  /**
   * an intermediate: the CRL number (RFC 5280 5.2.3) of the last CRL it signed, recorded before that CRL is
   * published so that a number is never used twice, even after a crash (numbers may skip, never repeat)
   */
  crlNumber?: number;
  /**
   * a client certificate: the CRL distribution point setting it was issued with (the CA profile's, `{issuer}`
   * not yet expanded), kept so that renew and rotation issue its next certificate with the same setting
   */
  crlDistributionPoint?: string;
  /**
   * a client certificate: the OAuth scopes (RFC 6749 §3.3 scope-tokens) its client may be granted by the token
   * endpoint; absent or empty: none. Carried by renew and rotation, changed by `ca client scopes`.
   */
  scopes?: string[];
  /** a client certificate: the audiences (`aud`) its tokens name; absent: the token endpoint's default (CA_TOKEN_AUDIENCE) */
  audiences?: string[];
}

/**
 * What a CA issues with, recorded on its root at bootstrap and read back by every later operation (rotation,
 * issuance, the gateway's server certificate), so that today's settings never silently change the CA.
 */
export interface CaProfile {
  organization: string;
  caName: string;
  caKeyType: KeyType;
  clientKeyType: KeyType;
  rootValidityDays: number;
  intermediateValidityDays: number;
  clientValidityDays: number;
  /** how long a superseded client certificate stays accepted */
  graceDays: number;
  /** when set, client certificates carry `spiffe://<trust-domain>/client/<id>` */
  spiffeTrustDomain?: string;
  /**
   * when set, client certificates carry a CRL distribution point (RFC 5280 4.2.1.13) with this https:// or s3://
   * URL, `{issuer}` replaced by the issuing intermediate's CRL name (its serial)
   */
  crlDistributionPoint?: string;
}

/**
 * Signs with a CA private key held by a KeyCustody. Callers sign through `sign` only; the one exception is
 * `keyForWorkerThreads`, below.
 */
export interface CaSigner {
  readonly keyType: KeyType;
  /**
   * DER SubjectPublicKeyInfo, derived from the key itself (never copied from a record), so the domain can
   * check that the key belongs to the certificate it signs for.
   */
  readonly publicKeySpki: Uint8Array;
  /**
   * Signs `data` with the hash the key type implies (SHA-256 for P-256 and RSA, SHA-384 for P-384),
   * RSA as PKCS#1 v1.5, ECDSA as a DER Ecdsa-Sig-Value: exactly what an X.509 signature field holds.
   */
  sign(data: Uint8Array): Promise<Uint8Array>;
  /**
   * The one capability that hands out the key: batch signing (SigningPool) needs the key object itself to
   * sign on worker threads, where it is cloned by postMessage and never serialised. Offered only by a custody
   * that already holds the key in this process's memory (files, SSM); a custody whose key never leaves it
   * (KMS) leaves it out, and batch work then signs one by one through `sign`. Nothing else may call it.
   */
  keyForWorkerThreads?(): KeyObject;
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
  /**
   * Opens an existing key for signing; the signer's public key is the stored key's own.
   * Throws CaError notFound, or invalidInput on a wrong passphrase or a reference that holds no usable key.
   */
  open(keyRef: string, keyType: KeyType): Promise<CaSigner>;
  /**
   * Removes a key that `create` made and nothing records (a command that failed after creating it): deletes
   * the file or the SSM parameter, schedules a KMS key's deletion with the shortest waiting period. Safe to
   * retry; an absent key is not an error. Never called for a key a certificate record refers to.
   */
  discard(keyRef: string): Promise<void>;
  /** Where the key lives, for messages: a file path, an SSM parameter name, a KMS key ARN. */
  describeKey(keyRef: string): string;
  /**
   * Takes custody of an existing CA key (`ca import`) under a reference derived from `label` and the key itself,
   * so that a retry finds the key it stored instead of storing another. Absent on a custody that cannot hold a
   * key made elsewhere (KMS here): the caller refuses. Never called for client keys.
   */
  adopt?(label: string, keyType: KeyType, privateKey: KeyObject): Promise<{ keyRef: string; signer: CaSigner }>;
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

/** What one registry commit can hold, stated by each adapter so that the domain plans within it. */
export interface RegistryLimits {
  /**
   * The most changes one atomic commit may hold, whatever they are (on DynamoDB each change may need an index
   * write besides its own); a larger atomic commit may be refused (CaError internal) before anything is
   * written. `Infinity` when there is no limit.
   */
  readonly maxAtomicChanges: number;
}

/**
 * The certificate registry. Invariants of every commit, decided by the domain (src/domain/registry-rules.ts) on
 * the records the commit touches: a created serial is new; an update finds the status it expects; at most one
 * `active` client certificate per client id. A client's group of changes (or the CA records') that is already
 * exactly in place, as when a commit is retried after it landed, counts as applied and is not written again.
 */
export interface CertificateRegistry {
  readonly limits: RegistryLimits;
  /** A strongly consistent read by serial (the authorizer's one read per certificate). */
  get(serial: string): Promise<CertificateRecord | undefined>;
  /** Records matching the query, any order. */
  list(query?: RegistryQuery): Promise<CertificateRecord[]>;
  /**
   * Applies changes, each conditional (create: serial is new; update: current status equals `expect`);
   * a failed condition throws CaError conflict. With `atomic` all apply or none (at most `limits.maxAtomicChanges`
   * changes: split larger work into several commits). Without it the adapter may
   * split the call into batches, but the changes that share a clientId (a client's new certificate and the
   * one it supersedes) always land together or not at all. Changes are given in order; the at-most-one-active
   * invariant is checked on the state after each client's group.
   */
  commit(changes: RegistryChange[], opts?: CommitOptions): Promise<void>;
}

/**
 * `audit`: the event that describes the commit, written in the same atomic write as its changes (a journal
 * line, a TransactWriteItems call), so that it exists exactly when they do. A commit the adapter splits writes
 * one event per part, each naming that part's serials. An adapter seals the draft (seq, prevHash, hash) on its
 * chain head. Nothing written (every group already in place): no event.
 */
export interface CommitOptions {
  atomic?: boolean;
  audit?: AuditDraft;
  /** what the audited store's event for this commit says it is, when not a plain registry change */
  auditAs?: { change: 'crl'; detail?: Record<string, string> };
}

/** What a command's audit event says, before the store chains it (see src/domain/audit.ts for the rules). */
export interface AuditDraft {
  /** ISO-8601 UTC */
  time: string;
  /** the command, e.g. `issue-client`, `truststore publish` */
  operation: string;
  /** one id per command run, shared by every event it writes */
  run: string;
  /**
   * what the event records: registry changes, a CRL's number recorded before it is signed and published, a
   * truststore publication, another write, or a failed run's end
   */
  change: 'registry' | 'crl' | 'truststore' | 'other' | 'failure';
  result: 'ok' | 'failed';
  /** for result `failed`: the exit code and its name (README exit-code table) */
  exit?: { code: number; category: string };
  /** serials created or changed (lowercase hex) */
  serials: string[];
  /** client ids whose certificates were created or changed */
  clientIds: string[];
  /** change `truststore`: the version published */
  truststoreVersion?: string;
  /** a command's own facts (a CRL number, a key id): short strings, never a secret */
  detail?: Record<string, string>;
  /** AWS: the caller identity ARN; local: user@host */
  actor: string;
  /** the ca version that wrote it */
  version: string;
  /** the command line, secrets removed */
  command: string[];
}

/** An event as stored: the draft chained to the one before it. */
export interface AuditEvent extends AuditDraft {
  /** 1, 2, 3… with no gap */
  seq: number;
  /** the previous event's hash; 64 zeros for the first */
  prevHash: string;
  /** lowercase hex SHA-256 of the event's canonical form without `hash` (src/domain/audit.ts) */
  hash: string;
}

/** The store's audit trail: append-only, chained, written by the store's adapters. */
export interface AuditLog {
  /** Every event, in sequence order. */
  read(): Promise<AuditEvent[]>;
  /** The last event's seq and hash as the store records them apart from the trail (to detect a cut tail). */
  head(): Promise<{ seq: number; hash: string } | undefined>;
  /**
   * The truststore version of the last `truststore` event (a publication whose version differs was not recorded:
   * a run stopped between publishing and recording it). The DynamoDB head item carries it: no scan.
   */
  lastTruststoreVersion(): Promise<string | undefined>;
  /** Appends an event that goes with no registry commit (a truststore publication, another write). Under the lock. */
  append(draft: AuditDraft): Promise<AuditEvent>;
  /** Who is acting: the AWS caller identity ARN, or user@host. */
  actor(): Promise<string>;
}

/** A record moved out of the registry once its retention period was over (see domain/retention.ts). */
export interface ArchivedRecord {
  record: CertificateRecord;
  /** when it left the registry */
  archivedAt: string;
}

/**
 * Where a store keeps the records it cleaned out of the registry the authorizer reads (the local store: an
 * append-only file beside the registry). A store whose backend removes them itself (DynamoDB TTL) has none.
 * Nothing is ever removed from an archive.
 */
export interface RegistryArchive {
  /** where the archive is, for messages and `files` (a path) */
  readonly location: string;
  /**
   * Moves records out of the registry into the archive: each is appended (durably) first, then removed from the
   * registry, where it must still be exactly as given (else CaError conflict, nothing removed). A crash between
   * the two leaves a record in both, which a re-run finishes without archiving it twice. Run under the store lock.
   */
  archive(records: CertificateRecord[], at: Date): Promise<void>;
  /** every archived record, oldest first */
  list(): Promise<ArchivedRecord[]>;
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
  /**
   * Where what clients and API Gateway are served differs from the latest published version (a copy edited or
   * deleted by hand), one line each; empty when they agree. `sync` repairs it.
   */
  drift(): Promise<string[]>;
}

/**
 * Publishes the certificate revocation list of each issuing CA next to the truststore: a file pair in the local
 * store, objects under `crl/` in the truststore bucket on AWS. `name` is the issuer's CRL name (its serial).
 */
export interface CrlPublisher {
  /** where the CRL of `name` is published: the DER form, then the PEM form (file paths or s3:// URIs) */
  locations(name: string): string[];
  /** the DER CRL published now under `name`, if any */
  current(name: string): Promise<Uint8Array | undefined>;
  /**
   * Writes the DER and the PEM form (the PEM one last: it is what an ALB trust store imports), each write
   * replacing the whole previous copy, so a retry after a failure or a crash simply writes them again.
   * Returns `locations(name)`. @throws CaError storage when a write fails
   */
  publish(name: string, der: Uint8Array): Promise<string[]>;
}

/** What a client receives. Private keys appear here once and are not kept by the CA. */
export interface ClientBundle {
  clientId: string;
  /** serial of the certificate (lowercase hex): names the staged copy until it is published */
  serial: string;
  certificatePem: string;
  /** intermediate then root */
  chainPem: string;
  /** PKCS#8 PEM, only when the tool generated the key; without it the bundle keeps the key it holds */
  privateKeyPem?: string;
  /** PKCS#12, only when asked for; without it a PKCS#12 the bundle holds is removed when this one is published */
  pkcs12?: Uint8Array;
}

/** What a client's current (published) bundle holds. */
export interface BundleDescription {
  clientId: string;
  /** the certificate it holds, if any (when asked for) */
  certificatePem?: string;
  /** whether it holds a PKCS#12 */
  pkcs12: boolean;
  /** the private key it holds, read only when it holds a PKCS#12 (the one case a re-issue needs it) */
  privateKeyPem?: string;
}

/** Bundles written durably beside the current ones, invisible under the final names until published. */
export interface StagedBundles {
  /** per bundle given to `stage`, in order: where its files are once published */
  readonly locations: string[][];
  /**
   * Puts every staged bundle in place of the current one: all its files (a PKCS#12 it lacks is removed), the
   * staged copy gone when it resolves. Call it only once the registry recorded the certificates.
   */
  publish(): Promise<void>;
}

/**
 * Hands bundles to clients: files in a directory, or SSM parameters. Issuing is stage, record, publish: a
 * generated key is durable (staged) before the registry records its certificate, and a working bundle is
 * replaced only by one the registry has. A crash between leaves staged copies that `recover` settles.
 */
export interface BundleSink {
  readonly kind: string;
  /** What the current bundles of these clients hold, one description per id, in order; the certificate only when asked. */
  describe(clientIds: string[], o?: { certificate?: boolean }): Promise<BundleDescription[]>;
  /**
   * Writes the bundles beside the current ones, all durable when it resolves (a sink overlaps the work: parallel
   * writes, one wait for the disk). On a failure nothing is staged (what was written is removed).
   */
  stage(bundles: ClientBundle[]): Promise<StagedBundles>;
  /**
   * Settles what is staged: publishes each staged bundle whose certificate the registry recorded (`recorded`),
   * removes the others. Run under the store lock before issuing (what an interrupted run left), and after a
   * failed commit (the registry, not the error, says whether it applied). A sink's staging area belongs to one
   * store: two stores issuing into the same bundle directory at once would remove each other's staged bundles.
   */
  recover(recorded: (clientId: string, serial: string) => Promise<boolean>): Promise<{ published: string[]; discarded: string[] }>;
  /**
   * Checks, without leaving anything behind, what can be known before the first write of a command: that
   * the destination accepts files (a directory sink creates and removes a probe file). Resolves when a
   * delivery may go ahead. Throws CaError storage, naming the destination, when it cannot.
   */
  preflight(): Promise<void>;
}

/** Serialises state-changing commands against one store. */
export interface StoreLock {
  withLock<T>(fn: () => Promise<T>): Promise<T>;
  /**
   * Inside `withLock`: resolves while this process still holds the lock, else rejects, so a command that lost
   * it stops before its next write (every write of a store calls it first: see domain/guarded-store.ts).
   * Outside `withLock` it resolves at once. May renew a lease whose own clock ran out, to prove it is still ours.
   * @throws CaError conflict when the lock was lost (another run took it over, or its lease could not be renewed)
   */
  assertHeld(): Promise<void>;
}

/** One client certificate for a worker to sign: what the issuer's template needs. Dates in ms since epoch. */
export interface SigningItem {
  serial: string;
  commonName: string;
  organization?: string;
  notBefore: number;
  notAfter: number;
  spiffeId?: string;
  /** the CRL distribution point URL, already expanded */
  crlDistributionPoint?: string;
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
  readonly crls: CrlPublisher;
  readonly lock: StoreLock;
  readonly audit: AuditLog;
  /**
   * where records past their retention period go (`ca compact`); absent when the backend removes them by itself
   * (the AWS store: a DynamoDB TTL attribute on each record)
   */
  readonly archive?: RegistryArchive;
  /** a short description for humans, e.g. `local directory ./pki` */
  describe(): string;
}

/** A P-256 public key as published in the token key set (RFC 7517, RFC 7518 §6.2). */
export interface PublicJwk {
  kty: 'EC';
  crv: 'P-256';
  x: string;
  y: string;
  /** the RFC 7638 thumbprint of the key */
  kid: string;
  alg: 'ES256';
  use: 'sig';
}

/**
 * One token signing key as the key set records it. Times ISO-8601 UTC. The rotation rule (domain/token-keys.ts):
 * a key is published at `publishedAt`, signs from `activateAt` (once every JWKS cache can have seen it), stops
 * signing when a successor activates, and leaves the set after `retireAfter` (when every token it signed expired).
 */
export interface TokenKeyEntry {
  kid: string;
  /** the custody's reference: a key file under the store, a KMS key ARN */
  keyRef: string;
  publishedAt: string;
  activateAt: string;
  /** set when a successor was published: after this instant no unexpired token carries this key's signature */
  retireAfter?: string;
  jwk: PublicJwk;
}

/** Signs access tokens with one key in custody; the key itself never leaves it. */
export interface TokenSigner {
  readonly kid: string;
  /** the compact JWS (ES256) of `payload` under `header`, whose `alg` and `kid` the signer sets */
  signJwt(header: Record<string, unknown>, payload: Record<string, unknown>): Promise<string>;
}

/** Where token signing keys live: encrypted key files (local store), KMS ECC_NIST_P256 SIGN_VERIFY keys (aws store). */
export interface TokenKeyCustody {
  readonly kind: string;
  /** Makes a new P-256 signing key; returns its reference and public key (`kid` is its RFC 7638 thumbprint). */
  create(): Promise<{ keyRef: string; jwk: PublicJwk }>;
  /** Opens a key for signing. @throws CaError notFound, invalidInput (wrong passphrase), storage */
  signer(entry: Pick<TokenKeyEntry, 'kid' | 'keyRef'>): Promise<TokenSigner>;
  /** Removes a key no entry records any more (deletes the file; schedules the KMS key's deletion). Safe to retry. */
  discard(keyRef: string): Promise<void>;
  /**
   * Removes the keys of this CA this custody holds that no entry records (what a rotation or prune interrupted
   * while changing keys leaves: a key made and never published, a retired key not yet removed), returning their
   * references. Run under the store lock, only when the set's pending mark says it is needed: it may list every
   * key the account holds (KMS).
   */
  sweep(recorded: readonly string[]): Promise<string[]>;
  describeKey(keyRef: string): string;
}

/**
 * The token key set: the entries (with the custody references and rotation times) and the JWKS published from them,
 * written together. Local: `<store>/token/keys.json` and `<store>/token/jwks.json`; aws: the registry table's item
 * `TOKEN#JWKS` (attributes `jwks`, `updatedAt`, `keys`).
 */
export interface TokenKeySet {
  load(): Promise<TokenKeyEntry[]>;
  /** Replaces the entries and publishes `jwks` (`{"keys":[…]}`) in one write; the pending mark stays as it is. */
  save(entries: TokenKeyEntry[], jwks: { keys: PublicJwk[] }, updatedAt: string): Promise<void>;
  /**
   * When a rotation or prune marked that it was about to change the custody's keys and did not finish (see
   * rotateTokenKey); undefined when none did.
   */
  pendingSince(): Promise<string | undefined>;
  markPending(at: string): Promise<void>;
  clearPending(): Promise<void>;
  /** where the JWKS is published, for messages: a file path or `dynamodb://<table>/TOKEN#JWKS` */
  describe(): string;
}
