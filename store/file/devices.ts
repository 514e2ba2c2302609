import { FleetkeyError } from '../../errors/index.js';
import { hashToken } from '../secrets.js';
import {
  assertDate, assertDeviceId, assertStatus, assertText, assertToken, auditActions, decodeCursor, encodeCursor,
  assertCertificateDer, assertEnrollingId, assertRetryCertificate, enrollableDevice, isDeviceId, retriedSerial, pageLimit, toDeviceRecord, validateCertificate, validateNewDevices, type StoredDevice,
} from '../records.js';
import type { CertificateRecord, DevicePage, Enrollment, DeviceRecord, DeviceStatus, NewDevice } from '../types.js';
import { auditEntries, type FileContext } from './context.js';

export async function registerDevices(ctx: FileContext, devices: readonly NewDevice[], actor: string): Promise<DeviceRecord[]> {
  validateNewDevices(devices);
  assertText('actor', actor);
  const taken = devices.filter((d) => ctx.state.devices.has(d.id)).map((d) => d.id);
  if (taken.length > 0) throw new FleetkeyError('DEVICE_EXISTS', `already registered: ${taken.slice(0, 10).join(', ')}`);
  if (devices.length === 0) return [];
  const now = ctx.now();
  const stored: StoredDevice[] = devices.map((d) => ({
    id: d.id,
    status: 'registered',
    createdAt: now,
    updatedAt: now,
    tokenHash: hashToken(d.token),
    tokenExpiresAt: d.tokenExpiresAt,
    enrolledAt: undefined,
  }));
  const audit = auditEntries(ctx.state, now, devices.map((d) => ({ actor, action: auditActions.register, subject: d.id })));
  await ctx.commit([{ t: 'device', d: stored }, { t: 'audit', a: audit }]);
  return stored.map(toDeviceRecord);
}

export function getDevice(ctx: FileContext, id: string): Promise<DeviceRecord | undefined> {
  assertDeviceId(id);
  const device = ctx.state.devices.get(id);
  return ctx.settle(device && toDeviceRecord(device));
}

export function listDevices(ctx: FileContext, query: { status?: DeviceStatus; cursor?: string; limit?: number }): Promise<DevicePage> {
  if (query.status !== undefined) assertStatus(query.status);
  const limit = pageLimit(query.limit);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, isDeviceId);
  const ids = ctx.state.deviceIds();
  const devices: DeviceRecord[] = [];
  let more = false;
  for (let i = after === undefined ? 0 : firstAfter(ids, after); i < ids.length; i += 1) {
    const device = ctx.state.devices.get(ids[i]!)!;
    if (query.status !== undefined && device.status !== query.status) continue;
    if (devices.length === limit) {
      more = true;
      break;
    }
    devices.push(toDeviceRecord(device));
  }
  return ctx.settle({ devices, nextCursor: more ? encodeCursor(devices.at(-1)!.id) : undefined });
}

export function countDevices(ctx: FileContext): Promise<Record<DeviceStatus, number>> {
  return ctx.settle({ ...ctx.state.counts });
}

/** Checks the input of an operation that gives device `id`, which must be in `status`, a new token; returns the device. */
export function deviceForNewToken(ctx: FileContext, id: string, token: string, expiresAt: Date, actor: string, status: DeviceStatus): StoredDevice {
  assertDeviceId(id);
  assertToken(token);
  assertDate('expiresAt', expiresAt);
  assertText('actor', actor);
  const device = ctx.state.devices.get(id);
  if (device === undefined) throw new FleetkeyError('DEVICE_NOT_FOUND', id);
  if (device.status !== status) throw new FleetkeyError('DEVICE_STATE_CONFLICT', `${id} is ${device.status}`);
  return device;
}

export async function renewEnrollmentToken(ctx: FileContext, id: string, token: string, expiresAt: Date, actor: string): Promise<void> {
  const device = deviceForNewToken(ctx, id, token, expiresAt, actor, 'registered');
  const now = ctx.now();
  const renewed: StoredDevice = { ...device, tokenHash: hashToken(token), tokenExpiresAt: expiresAt, updatedAt: now };
  const audit = auditEntries(ctx.state, now, [{ actor, action: auditActions.renewToken, subject: id }]);
  await ctx.commit([{ t: 'device', d: [renewed] }, { t: 'audit', a: audit }]);
}

export async function checkEnrollmentToken(ctx: FileContext, id: string, token: string): Promise<void> {
  assertEnrollingId(id);
  enrollableDevice(id, ctx.state.devices.get(id), token, ctx.now());
}

export async function enrollDevice(ctx: FileContext, id: string, token: string, certificate: CertificateRecord, der?: Buffer): Promise<void> {
  assertEnrollingId(id);
  validateCertificate(certificate);
  if (certificate.subject !== id) throw new FleetkeyError('STORE_INPUT_INVALID', `certificate subject ${certificate.subject} is not ${id}`);
  assertCertificateDer(certificate, der);
  const now = ctx.now();
  const device = enrollableDevice(id, ctx.state.devices.get(id), token, now);
  if (ctx.state.certificates.has(certificate.serial)) throw new FleetkeyError('CERTIFICATE_EXISTS', certificate.serial);
  const enrollment = { tokenHash: device.tokenHash!, tokenExpiresAt: device.tokenExpiresAt!, serial: certificate.serial, der };
  const enrolled: StoredDevice = {
    ...device, status: 'active', tokenHash: undefined, tokenExpiresAt: undefined, enrolledAt: now, updatedAt: now, enrollment,
  };
  const audit = auditEntries(ctx.state, now, [
    { actor: `device:${id}`, action: auditActions.enroll, subject: id, detail: { serial: certificate.serial } },
  ]);
  await ctx.commit(
    [{ t: 'device', d: [enrolled] }, { t: 'cert', c: certificate }, { t: 'audit', a: audit }],
    [{ type: 'device-changed', deviceId: id, status: 'active' }],
  );
}

export function enrollmentOf(ctx: FileContext, id: string, token: string): Promise<Enrollment | undefined> {
  assertEnrollingId(id);
  return ctx.settle(enrolledBy(ctx, id, token));
}

export async function recordEnrollmentRetry(ctx: FileContext, id: string, token: string, certificate: CertificateRecord): Promise<void> {
  assertEnrollingId(id);
  const now = ctx.now();
  const enrolled = enrolledBy(ctx, id, token);
  if (enrolled === undefined) throw new FleetkeyError('ENROLLMENT_REFUSED', `${id}: no enrollment of this token to retry`);
  assertRetryCertificate(id, certificate, enrolled.certificate.serial);
  if (ctx.state.certificates.has(certificate.serial)) throw new FleetkeyError('CERTIFICATE_EXISTS', certificate.serial);
  const audit = auditEntries(ctx.state, now, [
    { actor: `device:${id}`, action: auditActions.enrollRetry, subject: id, detail: { serial: certificate.serial, supersedes: enrolled.certificate.serial } },
  ]);
  await ctx.commit([{ t: 'cert', c: certificate }, { t: 'audit', a: audit }]);
}

/** What `token` enrolled `id` with, if a retry may have it now (store/records.ts retriedSerial), not revoked. */
function enrolledBy(ctx: FileContext, id: string, token: string): Enrollment | undefined {
  const device = ctx.state.devices.get(id);
  const serial = retriedSerial(device, token, ctx.now());
  if (serial === undefined || ctx.state.revocations.has(serial)) return undefined;
  const certificate = ctx.state.certificates.get(serial);
  return certificate && { certificate, der: device?.enrollment?.der };
}

/** Index of the first id greater than `after` in the sorted list. */
function firstAfter(ids: readonly string[], after: string): number {
  let lo = 0;
  let hi = ids.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (ids[mid]! <= after) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
