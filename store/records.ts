import { createHash } from 'node:crypto';
import { revocationReasons, type RevocationReason } from '../certs/types.js';
import { FleetkeyError } from '../errors/index.js';
import { tokenMatches } from './secrets.js';
import type { ApiRole, AuditInput, CertificateRecord, DeviceRecord, DeviceStatus, NewDevice, RekeyRequestClaim, StoreEventType } from './types.js';

/**
 * What both store backends share: the stored shape of records, their JSON encoding,
 * page cursors, input validation and limits. A backend validates with these before it writes anything.
 */

export const limits = Object.freeze({
  pageDefault: 100,
  pageMax: 1000,
  registerBatchMax: 10_000,
  grantBatchMax: 100_000,
  ackBatchMax: 100_000,
  tokenMinLength: 16,
  tokenMaxLength: 512,
  textMax: 256,
  auditDetailMaxBytes: 8192,
});

/** The actions the store itself writes to the audit log, in the same step as the change. */
export const auditActions = Object.freeze({
  register: 'device.register',
  renewToken: 'device.renew-token',
  enroll: 'device.enroll',
  enrollRetry: 'device.enroll-retry',
  revokeDevice: 'device.revoke',
  reprovision: 'device.reprovision',
  revokeCertificate: 'certificate.revoke',
  createApiToken: 'api-token.create',
  revokeApiToken: 'api-token.revoke',
});

/**
 * The audit entry of an accepted rotation request, naming the epoch it asks for. The provisioner writes
 * it before publishing `rotate-requested`; a KDC that may have missed that event reads it back.
 */
export const rotationRequestAudit = Object.freeze({
  action: 'epoch.rotate-requested',
  subject: (epoch: number): string => `epoch:${epoch}`,
});

/** The events a process may publish; `events-resumed` is raised locally by a store and never sent. */
export const publishableEventTypes: ReadonlySet<StoreEventType> = new Set(['revoked', 'rotated', 'rotate-requested', 'device-changed', 'ca-changed']);

export const deviceStatuses: readonly DeviceStatus[] = ['registered', 'active', 'revoked'];
export const apiRoles: readonly ApiRole[] = ['factory', 'operator', 'admin'];

/** A device as stored: the public record plus the enrollment token's SHA-256 (undefined once used). */
export interface StoredDevice extends DeviceRecord {
  readonly tokenHash: string | undefined;
  /** What its one-time token enrolled, for a retry whose answer was lost (`Store.enrollmentOf`). */
  readonly enrollment?: EnrollmentReceipt | undefined;
}

/**
 * Kept on the device by `enrollDevice`: the consumed token's SHA-256 and expiry (as registered), the
 * certificate it enrolled and that certificate's DER (certificates are public; no key is ever kept).
 * Ignored once the token's life is over; replaced by the next enrollment.
 */
export interface EnrollmentReceipt {
  readonly tokenHash: string;
  readonly tokenExpiresAt: Date;
  readonly serial: string;
  /** Undefined when `enrollDevice` was not given the DER (then only serverkeygen/bundle retries work). */
  readonly der: Buffer | undefined;
}

export function toDeviceRecord(d: StoredDevice): DeviceRecord {
  return { id: d.id, status: d.status, createdAt: d.createdAt, updatedAt: d.updatedAt, tokenExpiresAt: d.tokenExpiresAt, enrolledAt: d.enrolledAt };
}

// JSON with Dates, Buffers and bigints kept: {"$date": iso}, {"$buf": base64}, {"$big": decimal}.

/**
 * Written out by hand rather than with a JSON.stringify replacer: a replacer function is called for
 * every key and takes stringify off its fast path, and every write of both stores goes through here.
 * Same output as `JSON.stringify(value, replacer)` for the records we store (plain objects, arrays,
 * strings, finite numbers, booleans, null, Dates, Buffers, bigints); undefined members are left out.
 */
export function encodeJson(value: unknown): string {
  return encodeValue(value) ?? 'null';
}

function encodeValue(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? String(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return `{"$big":"${value.toString()}"}`;
    case 'object':
      if (value === null) return 'null';
      if (value instanceof Date) return `{"$date":"${value.toISOString()}"}`;
      if (Buffer.isBuffer(value)) return `{"$buf":"${value.toString('base64')}"}`;
      if (Array.isArray(value)) return encodeArray(value);
      return encodeObject(value as Record<string, unknown>);
    default:
      return undefined; // undefined, functions and symbols, as JSON.stringify leaves them out
  }
}

function encodeArray(items: readonly unknown[]): string {
  let out = '[';
  for (let i = 0; i < items.length; i++) out += (i === 0 ? '' : ',') + (encodeValue(items[i]) ?? 'null');
  return `${out}]`;
}

function encodeObject(object: Record<string, unknown>): string {
  let out = '{';
  for (const key of Object.keys(object)) {
    const member = encodeValue(object[key]);
    if (member === undefined) continue;
    out += `${out.length === 1 ? '' : ','}${JSON.stringify(key)}:${member}`;
  }
  return `${out}}`;
}

export function decodeJson<T>(text: string): T {
  return JSON.parse(text, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    const o = v as Record<string, unknown>;
    if (typeof o.$date === 'string') return new Date(o.$date);
    if (typeof o.$buf === 'string') return Buffer.from(o.$buf, 'base64');
    if (typeof o.$big === 'string') return BigInt(o.$big);
    return v;
  }) as T;
}

// Page cursors: opaque to callers, the last key seen to a backend.

export function encodeCursor(lastKey: string): string {
  return Buffer.from(lastKey, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string, valid: (key: string) => boolean = isDeviceId): string {
  const key = /^[A-Za-z0-9_-]{1,400}$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!valid(key)) throw new FleetkeyError('CURSOR_INVALID', `cursor ${JSON.stringify(cursor.slice(0, 80))}`);
  return key;
}

/** A page size: `fallback` when absent, refused unless a positive integer, at most `max`. */
export function pageLimit(limit: number | undefined, fallback: number = limits.pageDefault, max: number = limits.pageMax): number {
  if (limit === undefined) return fallback;
  if (!Number.isSafeInteger(limit) || limit < 1) invalid(`limit ${limit}`);
  return Math.min(limit, max);
}

// Validation. Each throws a FleetkeyError; none touches state.

const DEVICE_ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SERVICE_SUBJECT = /^service:[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const SERIAL = /^[0-9A-F]{1,64}$/;
const FINGERPRINT = /^[0-9a-f]{64}$/;

function invalid(detail: string): never {
  throw new FleetkeyError('STORE_INPUT_INVALID', detail);
}

export function isDeviceId(id: unknown): id is string {
  return typeof id === 'string' && DEVICE_ID.test(id);
}

export function assertDeviceId(id: unknown): asserts id is string {
  if (!isDeviceId(id)) throw new FleetkeyError('DEVICE_ID_INVALID', `device id ${JSON.stringify(String(id).slice(0, 80))}`);
}

export function assertDeviceIds(ids: readonly unknown[], max: number): void {
  if (!Array.isArray(ids) || ids.length > max) invalid(`batch of ${ids?.length} (max ${max})`);
  for (const id of ids) assertDeviceId(id);
}

/** A rekey request's nonce as the protocol writes it: base64url (so it never holds a key separator). */
const NONCE = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * A claim batch: at most grantBatchMax requests, each a device or service client id (the device id
 * form) with a base64url nonce; a TTL of 1 ms to 1 h.
 */
export function assertRequestClaims(requests: readonly RekeyRequestClaim[], ttlMs: number): void {
  if (!Array.isArray(requests) || requests.length > limits.grantBatchMax) invalid(`batch of ${requests?.length} (max ${limits.grantBatchMax})`);
  for (const r of requests) {
    if (!isDeviceId(r?.id)) invalid(`requester id ${JSON.stringify(String(r?.id)).slice(0, 80)}`);
    if (typeof r.nonce !== 'string' || !NONCE.test(r.nonce)) invalid('nonce must be 1..128 base64url characters');
  }
  if (!Number.isInteger(ttlMs) || ttlMs < 1 || ttlMs > 3_600_000) invalid(`ttlMs must be an integer in 1..3600000, got ${ttlMs}`);
}

/** A rotation lease: an epoch, a holder (a KDC's client id) and a ttl of at most 10 minutes. */
export function assertRotationLease(epoch: unknown, holder: unknown, ttlMs?: unknown): void {
  assertEpoch(epoch);
  if (typeof holder !== 'string' || !isDeviceId(holder)) invalid(`lease holder ${JSON.stringify(String(holder)).slice(0, 80)}`);
  if (ttlMs !== undefined && (!Number.isInteger(ttlMs) || (ttlMs as number) < 1 || (ttlMs as number) > 600_000)) invalid(`lease ttlMs must be an integer in 1..600000, got ${String(ttlMs)}`);
}

export function assertSerial(serial: unknown): asserts serial is string {
  if (typeof serial !== 'string' || !SERIAL.test(serial)) invalid(`serial ${JSON.stringify(String(serial).slice(0, 80))}`);
}

export function assertText(name: string, value: unknown): asserts value is string {
  if (typeof value !== 'string' || value.length === 0 || value.length > limits.textMax) invalid(`${name} must be 1..${limits.textMax} characters`);
}

export function assertDate(name: string, value: unknown): asserts value is Date {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) invalid(`${name} is not a valid Date`);
}

export function assertToken(token: unknown): asserts token is string {
  if (typeof token !== 'string' || token.length < limits.tokenMinLength || token.length > limits.tokenMaxLength) {
    invalid(`token must be ${limits.tokenMinLength}..${limits.tokenMaxLength} characters`);
  }
}

export function assertReason(reason: unknown): asserts reason is RevocationReason {
  if (typeof reason !== 'string' || !Object.hasOwn(revocationReasons, reason)) invalid(`revocation reason ${String(reason)}`);
}

/** Epoch numbers are u32 on the wire; `allowZero` for "no epoch yet". */
export function assertEpoch(epoch: unknown, allowZero = false): asserts epoch is number {
  if (!Number.isSafeInteger(epoch) || (epoch as number) < (allowZero ? 0 : 1) || (epoch as number) > 0xffffffff) invalid(`epoch ${String(epoch)}`);
}

export function assertStatus(status: unknown): asserts status is DeviceStatus {
  if (!deviceStatuses.includes(status as DeviceStatus)) invalid(`status ${String(status)}`);
}

/** Ids valid, tokens long enough, no id twice in the batch (DEVICE_EXISTS). */
export function validateNewDevices(devices: readonly NewDevice[]): void {
  if (!Array.isArray(devices) || devices.length > limits.registerBatchMax) invalid(`batch of ${devices?.length} (max ${limits.registerBatchMax})`);
  const seen = new Set<string>();
  for (const d of devices) {
    assertDeviceId(d.id);
    assertToken(d.token);
    assertDate('tokenExpiresAt', d.tokenExpiresAt);
    if (seen.has(d.id)) throw new FleetkeyError('DEVICE_EXISTS', `${d.id} appears twice in the batch`);
    seen.add(d.id);
  }
}

/** Subject is a device id or `service:<name>`; serial upper-case hex; fingerprint SHA-256 hex. */
export function validateCertificate(c: CertificateRecord): void {
  assertSerial(c.serial);
  if (typeof c.subject !== 'string' || !(DEVICE_ID.test(c.subject) || SERVICE_SUBJECT.test(c.subject))) invalid(`subject ${String(c.subject).slice(0, 80)}`);
  if (!Buffer.isBuffer(c.spki) || c.spki.length === 0) invalid('spki must be DER bytes');
  assertDate('notBefore', c.notBefore);
  assertDate('notAfter', c.notAfter);
  assertDate('issuedAt', c.issuedAt);
  if (c.notAfter.getTime() < c.notBefore.getTime()) invalid('notAfter is before notBefore');
  if (typeof c.fingerprint !== 'string' || !FINGERPRINT.test(c.fingerprint)) invalid('fingerprint must be lower-case SHA-256 hex');
  if (c.supersedes !== undefined) {
    assertSerial(c.supersedes);
    if (c.supersedes === c.serial) invalid('a certificate cannot supersede itself');
  }
}

export function validateAuditInput(entry: AuditInput): void {
  assertText('actor', entry.actor);
  assertText('action', entry.action);
  assertText('subject', entry.subject);
  if (entry.detail !== undefined) {
    if (entry.detail === null || typeof entry.detail !== 'object' || Array.isArray(entry.detail)) invalid('detail must be an object');
    if (Buffer.byteLength(encodeJson(entry.detail)) > limits.auditDetailMaxBytes) invalid(`detail over ${limits.auditDetailMaxBytes} bytes`);
  }
}

export function validateApiTokenInput(input: { id: string; secret: string; role: ApiRole; label?: string }): void {
  if (!isDeviceId(input.id)) invalid(`api token id ${String(input.id).slice(0, 80)}`);
  assertToken(input.secret);
  if (!apiRoles.includes(input.role)) invalid(`role ${String(input.role)}`);
  if (input.label !== undefined) assertText('label', input.label);
}

/** What decides whether a device may enroll: both backends read these fields. */
type EnrollmentState = Pick<StoredDevice, 'status' | 'tokenHash' | 'tokenExpiresAt'>;

/** ENROLLMENT_REFUSED for a name that cannot be a device id: the first check of every enrollment step. */
export function assertEnrollingId(id: string): void {
  if (!isDeviceId(id)) throw new FleetkeyError('ENROLLMENT_REFUSED', `invalid device id ${JSON.stringify(String(id).slice(0, 80))}`);
}

/**
 * The serial `token` enrolled the device with, if a retry of that enrollment may have it now: the device
 * is active, the token is the one its enrollment consumed and that token's life is not over. The
 * caller still checks that the serial is not revoked.
 */
export function retriedSerial(device: Pick<StoredDevice, 'status' | 'enrollment'> | undefined, token: string, now: Date): string | undefined {
  const receipt = device?.enrollment;
  if (device?.status !== 'active' || receipt === undefined || typeof token !== 'string') return undefined;
  if (receipt.tokenExpiresAt.getTime() <= now.getTime() || !tokenMatches(token, receipt.tokenHash)) return undefined;
  return receipt.serial;
}

/** DER given to `enrollDevice` must be the recorded certificate's (its SHA-256 is the fingerprint). */
export function assertCertificateDer(certificate: CertificateRecord, der: Buffer | undefined): void {
  if (der === undefined) return;
  if (!Buffer.isBuffer(der) || createHash('sha256').update(der).digest('hex') !== certificate.fingerprint) invalid('der is not the certificate\'s');
}

/** A retry's certificate must be the device's and supersede exactly the certificate the token enrolled. */
export function assertRetryCertificate(id: string, certificate: CertificateRecord, enrolledSerial: string): void {
  validateCertificate(certificate);
  if (certificate.subject !== id) invalid(`certificate subject ${certificate.subject} is not ${id}`);
  if (certificate.supersedes !== enrolledSerial) invalid(`a retry's certificate supersedes ${enrolledSerial}, not ${String(certificate.supersedes)}`);
}

/** The device, if it may enroll with this token now; ENROLLMENT_REFUSED with the reason in its detail if not. */
export function enrollableDevice<D extends EnrollmentState>(id: string, device: D | undefined, token: string, now: Date): D {
  const refusal = enrollmentRefusal(device, token, now);
  if (refusal !== undefined || device === undefined) throw new FleetkeyError('ENROLLMENT_REFUSED', `${id}: ${refusal}`);
  return device;
}

/**
 * Why a device may not enroll with this token now, or undefined when it may.
 * The reason goes to ENROLLMENT_REFUSED's detail (the log), never to the caller.
 */
export function enrollmentRefusal(device: EnrollmentState | undefined, token: string, now: Date): string | undefined {
  if (device === undefined) return 'unknown device';
  if (device.status === 'revoked') return 'device revoked';
  if (device.tokenHash === undefined || device.status !== 'registered') return 'token already used';
  if (typeof token !== 'string' || !tokenMatches(token, device.tokenHash)) return 'wrong token';
  if (device.tokenExpiresAt === undefined || device.tokenExpiresAt.getTime() <= now.getTime()) return 'token expired';
  return undefined;
}
