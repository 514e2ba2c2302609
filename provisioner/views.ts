import type { RevocationCache } from '../store/revocation-cache.js';
import type { CertificateRecord, DeviceRecord, EpochProgress, EpochRecord, RevocationRecord } from '../store/types.js';

/** The JSON shapes of the REST API: dates as ISO strings, absent values as null. */

const iso = (date: Date | undefined): string | null => (date === undefined ? null : date.toISOString());

export function deviceView(d: DeviceRecord) {
  return {
    id: d.id,
    status: d.status,
    createdAt: iso(d.createdAt),
    updatedAt: iso(d.updatedAt),
    tokenExpiresAt: iso(d.tokenExpiresAt),
    enrolledAt: iso(d.enrolledAt),
  };
}

export function certificateView(c: CertificateRecord, revocations: RevocationCache) {
  return {
    serial: c.serial,
    subject: c.subject,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    fingerprint: c.fingerprint,
    issuedAt: iso(c.issuedAt),
    revoked: revocations.isRevoked(c.serial),
  };
}

export function revocationView(r: RevocationRecord) {
  return { serial: r.serial, subject: r.subject, reason: r.reason, revokedAt: iso(r.revokedAt) };
}

export function epochView(e: EpochRecord | undefined, progress: EpochProgress | undefined) {
  if (e === undefined) return null;
  return {
    epoch: e.epoch,
    state: e.state,
    createdAt: iso(e.createdAt),
    activatesAt: iso(e.activatesAt),
    granted: progress?.granted ?? 0,
    acked: progress?.acked ?? 0,
  };
}
