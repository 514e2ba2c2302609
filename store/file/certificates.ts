import type { RevocationReason } from '../../certs/types.js';
import { FleetkeyError } from '../../errors/index.js';
import { assertDate, assertDeviceId, assertReason, assertSerial, assertText, auditActions, isDeviceId, validateCertificate, type StoredDevice } from '../records.js';
import { hashToken } from '../secrets.js';
import type { CertificateRecord, RevocationRecord } from '../types.js';
import { auditEntries, type FileContext } from './context.js';
import { deviceForNewToken } from './devices.js';

export async function recordCertificate(ctx: FileContext, certificate: CertificateRecord): Promise<void> {
  validateCertificate(certificate);
  if (ctx.state.certificates.has(certificate.serial)) throw new FleetkeyError('CERTIFICATE_EXISTS', certificate.serial);
  if (isDeviceId(certificate.subject)) {
    const device = ctx.state.devices.get(certificate.subject);
    if (device === undefined) throw new FleetkeyError('DEVICE_NOT_FOUND', certificate.subject);
    if (device.status === 'revoked') throw new FleetkeyError('DEVICE_STATE_CONFLICT', `${certificate.subject} is revoked`);
  }
  const { supersedes } = certificate;
  if (supersedes !== undefined && ctx.state.certificates.get(supersedes)?.subject !== certificate.subject) {
    throw new FleetkeyError('CERTIFICATE_NOT_FOUND', `${supersedes} is no certificate of ${certificate.subject}`);
  }
  await ctx.commit([{ t: 'cert', c: certificate }]);
}

export function getCertificate(ctx: FileContext, serial: string): Promise<CertificateRecord | undefined> {
  assertSerial(serial);
  return ctx.settle(ctx.state.certificates.get(serial));
}

export function listCertificates(ctx: FileContext, subject: string): Promise<CertificateRecord[]> {
  assertText('subject', subject);
  const certificates = ctx.state.serialsOf(subject).map((serial) => ctx.state.certificates.get(serial)!);
  return ctx.settle(certificates.sort((a, b) => a.issuedAt.getTime() - b.issuedAt.getTime()));
}

export function listExpiringCertificates(ctx: FileContext, before: Date): Promise<CertificateRecord[]> {
  assertDate('before', before);
  const expiring: CertificateRecord[] = [];
  for (const c of ctx.state.certificates.values()) {
    if (c.notAfter.getTime() < before.getTime() && !ctx.state.revocations.has(c.serial)) expiring.push(c);
  }
  return ctx.settle(expiring.sort((a, b) => a.notAfter.getTime() - b.notAfter.getTime()));
}

export async function revokeCertificate(ctx: FileContext, serial: string, reason: RevocationReason, actor: string): Promise<RevocationRecord> {
  assertSerial(serial);
  assertReason(reason);
  assertText('actor', actor);
  const certificate = ctx.state.certificates.get(serial);
  if (certificate === undefined) throw new FleetkeyError('CERTIFICATE_NOT_FOUND', serial);
  if (ctx.state.revocations.has(serial)) throw new FleetkeyError('CERTIFICATE_ALREADY_REVOKED', serial);
  const now = ctx.now();
  const record: RevocationRecord = { serial, subject: certificate.subject, reason, revokedAt: now };
  const audit = auditEntries(ctx.state, now, [
    { actor, action: auditActions.revokeCertificate, subject: serial, detail: { reason, device: certificate.subject } },
  ]);
  const seq = ctx.state.revocationSeq + 1;
  await ctx.commit(
    [{ t: 'revoke', r: [record], seq }, { t: 'audit', a: audit }],
    [{ type: 'revoked', subject: certificate.subject, serials: [serial], reason, at: now.toISOString(), seq }],
  );
  return record;
}

/** Revokes each serial of an active device not revoked yet and makes it `registered` again with a new token. */
export async function reprovisionDevice(ctx: FileContext, id: string, token: string, expiresAt: Date, actor: string): Promise<RevocationRecord[]> {
  const device = deviceForNewToken(ctx, id, token, expiresAt, actor, 'active');
  const now = ctx.now();
  const records: RevocationRecord[] = ctx.state
    .serialsOf(id)
    .filter((serial) => !ctx.state.revocations.has(serial))
    .map((serial) => ({ serial, subject: id, reason: 'superseded', revokedAt: now }));
  const serials = records.map((r) => r.serial);
  const registered: StoredDevice = { ...device, status: 'registered', tokenHash: hashToken(token), tokenExpiresAt: expiresAt, enrolledAt: undefined, updatedAt: now };
  const audit = auditEntries(ctx.state, now, [{ actor, action: auditActions.reprovision, subject: id, detail: { serials } }]);
  const seq = ctx.state.revocationSeq + 1;
  await ctx.commit(
    [{ t: 'device', d: [registered] }, { t: 'revoke', r: records, seq }, { t: 'audit', a: audit }],
    [
      { type: 'revoked', subject: id, serials, reason: 'superseded', at: now.toISOString(), seq },
      { type: 'device-changed', deviceId: id, status: 'registered' },
    ],
  );
  return records;
}

/** Revokes the device and each of its serials not revoked yet; returns the new revocations. */
export async function revokeDevice(ctx: FileContext, id: string, reason: RevocationReason, actor: string): Promise<RevocationRecord[]> {
  assertDeviceId(id);
  assertReason(reason);
  assertText('actor', actor);
  const device = ctx.state.devices.get(id);
  if (device === undefined) throw new FleetkeyError('DEVICE_NOT_FOUND', id);
  if (device.status === 'revoked') throw new FleetkeyError('DEVICE_STATE_CONFLICT', `${id} is already revoked`);
  const now = ctx.now();
  const records: RevocationRecord[] = ctx.state
    .serialsOf(id)
    .filter((serial) => !ctx.state.revocations.has(serial))
    .map((serial) => ({ serial, subject: id, reason, revokedAt: now }));
  const serials = records.map((r) => r.serial);
  const revoked = { ...device, status: 'revoked' as const, tokenHash: undefined, tokenExpiresAt: undefined, updatedAt: now };
  const audit = auditEntries(ctx.state, now, [{ actor, action: auditActions.revokeDevice, subject: id, detail: { reason, serials } }]);
  const seq = ctx.state.revocationSeq + 1;
  await ctx.commit(
    [{ t: 'device', d: [revoked] }, { t: 'revoke', r: records, seq }, { t: 'audit', a: audit }],
    [
      { type: 'revoked', subject: id, serials, reason, at: now.toISOString(), seq },
      { type: 'device-changed', deviceId: id, status: 'revoked', seq },
    ],
  );
  return records;
}

export function listRevocations(ctx: FileContext): Promise<RevocationRecord[]> {
  return ctx.settle([...ctx.state.revocations.values()]);
}

export function revocationSeq(ctx: FileContext): Promise<number> {
  return ctx.settle(ctx.state.revocationSeq);
}

export async function nextCrlNumber(ctx: FileContext): Promise<bigint> {
  const n = ctx.state.crlNumber + 1n;
  await ctx.commit([{ t: 'crl', n }]);
  return n;
}
