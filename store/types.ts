import type { RevocationReason } from '../certs/types.js';
import type { StoreHealth, StoreSnapshot } from './backup-records.js';
import type { StoreIdentity } from './identity.js';

/**
 * The state every fleetkey service shares, as domain operations.
 * Two implementations keep this contract: `file:` (embedded, one process) and `redis:` (many processes).
 * Every method either applies completely or not at all; refusals throw FleetkeyError with a code from errors/store.ts.
 */

export type DeviceStatus = 'registered' | 'active' | 'revoked';

export interface DeviceRecord {
  readonly id: string;
  readonly status: DeviceStatus;
  readonly createdAt: Date;
  readonly updatedAt: Date;
  /** When the one-time enrollment token stops working; undefined once it was used. */
  readonly tokenExpiresAt: Date | undefined;
  readonly enrolledAt: Date | undefined;
}

export interface NewDevice {
  readonly id: string;
  /** The one-time enrollment token in clear. The store keeps only its SHA-256. */
  readonly token: string;
  readonly tokenExpiresAt: Date;
}

export interface DevicePage {
  readonly devices: DeviceRecord[];
  /** Pass back to get the next page; undefined on the last page. */
  readonly nextCursor: string | undefined;
}

export interface CertificateRecord {
  /** Upper-case hex, as X509Certificate.serialNumber prints it. */
  readonly serial: string;
  /** Device id, or `service:<role>` for service certificates. */
  readonly subject: string;
  /** SubjectPublicKeyInfo DER. */
  readonly spki: Buffer;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SHA-256 of the certificate DER, lower-case hex. */
  readonly fingerprint: string;
  readonly issuedAt: Date;
  /**
   * A re-enrollment's certificate: the serial it replaces, which stays valid until this one is first
   * used (store/succession.ts).
   */
  readonly supersedes?: string | undefined;
}

/** What a one-time token enrolled (`Store.enrollmentOf`). */
export interface Enrollment {
  readonly certificate: CertificateRecord;
  /** The certificate's DER when `enrollDevice` was given it: a simpleenroll retry gets these bytes again. */
  readonly der: Buffer | undefined;
}

export interface RevocationRecord {
  readonly serial: string;
  readonly subject: string;
  readonly reason: RevocationReason;
  readonly revokedAt: Date;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly createdAt: Date;
  /** Devices switch to this epoch's keys at this time (the grants' nbf). */
  readonly activatesAt: Date;
  /** `distributing` until the KDC has sent a grant to every eligible device. */
  readonly state: 'distributing' | 'distributed';
}

/** How `createNextEpoch` makes the new epoch, beyond the compare-and-set. */
export interface NewEpochOptions {
  /**
   * The new epoch's number is at least this (default `expectedCurrent + 1`): a KDC whose high-water
   * mark is past the store's current epoch (the store lost writes) moves the fleet past every number
   * it may have used. The compare-and-set on `expectedCurrent` is unchanged.
   */
  readonly minimum?: number;
  /** Leases the new epoch's distribution to `holder` in the same atomic step (see `leaseRotation`). */
  readonly lease?: { readonly holder: string; readonly ttlMs: number };
}

export interface EpochProgress {
  readonly epoch: number;
  /** Devices that were sent at least one grant in this epoch. */
  readonly granted: number;
  /** Devices that acknowledged a grant of this epoch. */
  readonly acked: number;
}

export type ApiRole = 'factory' | 'operator' | 'admin';

export interface ApiTokenRecord {
  readonly id: string;
  readonly role: ApiRole;
  readonly createdAt: Date;
  readonly label: string | undefined;
}

export interface AuditInput {
  /** Who did it: `api:<token id>`, `device:<id>`, `kdc`, `cli`, `system`. */
  readonly actor: string;
  /** What was done, dotted: `device.register`, `device.enroll`, `device.revoke`, `enroll.refused`, `epoch.rotate`… */
  readonly action: string;
  /** What it was done to: a device id, a serial, an epoch. */
  readonly subject: string;
  /** Anything else worth keeping. Never secrets. */
  readonly detail?: Readonly<Record<string, unknown>>;
}

export interface AuditEntry extends AuditInput {
  /** Orders entries; use as a cursor. */
  readonly id: string;
  readonly time: Date;
}

export interface AuditPage {
  readonly entries: AuditEntry[];
  readonly nextCursor: string | undefined;
}

/** A rekey request as a KDC replica claims it: the requester (device or consumer id) and its nonce. */
export interface RekeyRequestClaim {
  readonly id: string;
  readonly nonce: string;
}

export type StoreEvent =
  /** `seq`: the store's revocation sequence after this change (see `revocationSeq`). */
  | { readonly type: 'revoked'; readonly subject: string; readonly serials: string[]; readonly reason: RevocationReason; readonly at: string; readonly seq?: number }
  | { readonly type: 'rotated'; readonly epoch: number; readonly activatesAt: string }
  | { readonly type: 'rotate-requested'; readonly requestedBy: string; readonly switchAfterSeconds: number | undefined }
  /** `seq` when the change revoked the device: the same as its `revoked` event's. */
  | { readonly type: 'device-changed'; readonly deviceId: string; readonly status: DeviceStatus; readonly seq?: number }
  | { readonly type: 'ca-changed' }
  /**
   * Local only, never published: this process's event feed was cut and is back (a Redis subscriber
   * reconnected), so events published meanwhile were missed. Whoever caches what events announce
   * reads it again. The file store, in one process, never has a gap.
   */
  | { readonly type: 'events-resumed' }
  /** Local only, never published: this process's event feed was cut; `events-resumed` follows when it is back. */
  | { readonly type: 'events-cut' };

export type StoreEventType = StoreEvent['type'];

export interface Store {
  /** `file:<dir>` or `redis://…` — what this store was opened with (credentials removed). */
  readonly url: string;

  // Devices
  registerDevices(devices: readonly NewDevice[], actor: string): Promise<DeviceRecord[]>;
  getDevice(id: string): Promise<DeviceRecord | undefined>;
  listDevices(query: { status?: DeviceStatus; cursor?: string; limit?: number }): Promise<DevicePage>;
  countDevices(): Promise<Record<DeviceStatus, number>>;
  /** Replaces a registered (not yet enrolled) device's token, e.g. after it expired. */
  renewEnrollmentToken(id: string, token: string, expiresAt: Date, actor: string): Promise<void>;

  /**
   * Whether `token` would enroll `id` now, changing nothing: ENROLLMENT_REFUSED as `enrollDevice` would
   * refuse. A caller checks this before costly work (a CSR's signature, a key); the token is used only
   * by `enrollDevice`, which checks again.
   */
  checkEnrollmentToken(id: string, token: string): Promise<void>;
  /**
   * Consumes the one-time token and records the device's first certificate in one atomic step.
   * Wrong, expired or used token, unknown or revoked device: ENROLLMENT_REFUSED, nothing changes.
   * The device keeps the consumed token's hash and expiry, the serial and `der` (the certificate's
   * bytes, when given) until that expiry, for `enrollmentOf`.
   */
  enrollDevice(id: string, token: string, certificate: CertificateRecord, der?: Buffer): Promise<void>;
  /**
   * The enrollment `token` made, for a retry whose answer was lost: found while the device is active,
   * `token` is the one its enrollment consumed, that token's life (tokenExpiresAt as registered) is not
   * over and the certificate is not revoked; undefined otherwise. One atomic read.
   */
  enrollmentOf(id: string, token: string): Promise<Enrollment | undefined>;
  /**
   * Records a retry's new certificate (serverkeygen, factory bundle: a key never stored cannot be sent
   * again) as a pending successor of the one `token` enrolled (`certificate.supersedes` = its serial,
   * store/succession.ts), in one step with `enrollmentOf`'s checks, audited `device.enroll-retry`.
   * Checks failed: ENROLLMENT_REFUSED; a serial recorded before: CERTIFICATE_EXISTS.
   */
  recordEnrollmentRetry(id: string, token: string, certificate: CertificateRecord): Promise<void>;

  // Certificates
  /** Records a certificate (re-enrollment, factory bundle, services). A serial recorded before is refused. */
  recordCertificate(certificate: CertificateRecord): Promise<void>;
  getCertificate(serial: string): Promise<CertificateRecord | undefined>;
  listCertificates(subject: string): Promise<CertificateRecord[]>;
  /** Certificates whose notAfter is before `before` and that are not revoked. */
  listExpiringCertificates(before: Date): Promise<CertificateRecord[]>;

  // Revocation
  /** Revokes one serial. Publishes `revoked`. */
  revokeCertificate(serial: string, reason: RevocationReason, actor: string): Promise<RevocationRecord>;
  /** Revokes the device and every serial it holds. Publishes `revoked` and `device-changed`. */
  revokeDevice(id: string, reason: RevocationReason, actor: string): Promise<RevocationRecord[]>;
  /**
   * Re-provisioning, for an active device that lost its key (flash wiped, repaired): revokes every
   * serial it holds (reason `superseded`) and returns it to `registered` with a new one-time token, in
   * one step. Anything but an active device: DEVICE_STATE_CONFLICT. Publishes `revoked` and `device-changed`.
   */
  reprovisionDevice(id: string, token: string, expiresAt: Date, actor: string): Promise<RevocationRecord[]>;
  listRevocations(): Promise<RevocationRecord[]>;
  /**
   * The revocation sequence: a counter that every revoking change (revokeCertificate, revokeDevice,
   * reprovisionDevice) increments in the same atomic step, and that its `revoked` event carries as `seq`.
   * A process that has applied every revocation up to n and reads n here has missed none.
   */
  revocationSeq(): Promise<number>;
  nextCrlNumber(): Promise<bigint>;

  // Epochs (the KEK is the KDC's; the store only ever holds sealed secrets)
  currentEpoch(): Promise<EpochRecord | undefined>;
  getEpoch(epoch: number): Promise<EpochRecord | undefined>;
  /**
   * Creates epoch `expectedCurrent + 1` if the current epoch is still `expectedCurrent` (0 = none yet):
   * of concurrent callers exactly one gets the record, the others undefined. Publishes `rotated`.
   */
  createNextEpoch(expectedCurrent: number, secret: Buffer, kek: Buffer, activatesAt: Date, options?: NewEpochOptions): Promise<EpochRecord | undefined>;
  markEpochDistributed(epoch: number): Promise<void>;
  /**
   * Takes or renews the lease on distributing `epoch` for `ttlMs`: true if `holder` has it now, false
   * while another holder's lease runs. A distributing epoch whose lease is free has no distributor
   * (it died, or the store was away): any KDC replica takes it over. Kept only for `ttlMs`.
   */
  leaseRotation(epoch: number, holder: string, ttlMs: number): Promise<boolean>;
  /** Gives the lease up if `holder` has it (the epoch is distributed, or the holder stops). */
  releaseRotation(epoch: number, holder: string): Promise<void>;
  /** The epoch's secret, opened with the KEK; undefined when it was deleted past retention. */
  epochSecret(epoch: number, kek: Buffer): Promise<Buffer | undefined>;
  /** Deletes the secrets of every epoch below `epoch`. Returns how many were deleted. */
  deleteEpochSecretsBefore(epoch: number): Promise<number>;

  // Grants and acks
  /** The next grant number (1, 2, …) of each device in `epoch`, persisted before it is returned. */
  nextGrants(deviceIds: readonly string[], epoch: number): Promise<Map<string, number>>;
  recordAcks(acks: readonly { deviceId: string; epoch: number; grant: number }[]): Promise<void>;
  epochProgress(epoch: number): Promise<EpochProgress>;
  /** Devices granted in `epoch` that have not acknowledged it. */
  listUnacked(epoch: number, limit?: number): Promise<string[]>;
  /** Devices granted in `epoch`, acknowledged or not (the KDC's view of who was online in it after a restart). */
  listGranted(epoch: number, limit?: number): Promise<string[]>;
  /**
   * Claims rekey requests for answering, so that of several KDC replicas that all receive one request
   * exactly one answers it: the first claim of an (id, nonce) wins for `ttlMs`, and every other claim
   * of it in that time (another replica's, or the same replica's for a redelivered request) loses.
   * Returns the ids this call won. Kept only for `ttlMs`, never journaled.
   */
  claimRekeyRequests(requests: readonly RekeyRequestClaim[], ttlMs: number): Promise<Set<string>>;

  // API tokens (REST bearer tokens; only a hash is kept)
  createApiToken(input: { id: string; secret: string; role: ApiRole; label?: string }, actor: string): Promise<ApiTokenRecord>;
  findApiToken(secret: string): Promise<ApiTokenRecord | undefined>;
  revokeApiToken(id: string, actor: string): Promise<void>;

  // Audit
  appendAudit(entry: AuditInput): Promise<AuditEntry>;
  readAudit(query: { cursor?: string; limit?: number; subject?: string }): Promise<AuditPage>;

  // Identity and backup (store/identity.ts, store/backup.ts)
  health(): StoreHealth;
  /** A consistent snapshot of the fleet's state (docs/store.md, "Backup"); a lost store refuses. */
  exportState(): Promise<StoreSnapshot>;
  /**
   * Replaces the state with `snapshot`, the identity marker set to `identity` last. A store holding
   * fleet state is refused with STORE_NOT_EMPTY unless `force`.
   */
  importState(snapshot: StoreSnapshot, identity: StoreIdentity, opts: { force: boolean }): Promise<void>;

  // Events
  publish(event: StoreEvent): Promise<void>;
  /** Subscribes to events from every process on this store (this one included). Returns an unsubscribe function. */
  on<T extends StoreEventType>(type: T, handler: (event: Extract<StoreEvent, { type: T }>) => void): () => void;

  close(): Promise<void>;
}
