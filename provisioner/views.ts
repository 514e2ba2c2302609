import type { RevocationCache } from '../store/revocation-cache.js';
import { pendingPredecessor } from '../store/succession.js';
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

/** A subject's certificates; `pending`: a re-enrollment's, not used yet (store/succession.ts). */
export function certificateViews(records: readonly CertificateRecord[], revocations: RevocationCache, now = Date.now()) {
  const { isRevoked } = revocations;
  return records.map((c) => ({
    serial: c.serial,
    subject: c.subject,
    notBefore: iso(c.notBefore),
    notAfter: iso(c.notAfter),
    fingerprint: c.fingerprint,
    issuedAt: iso(c.issuedAt),
    revoked: isRevoked(c.serial),
    supersedes: c.supersedes ?? null,
    pending: pendingPredecessor(c, records, isRevoked, now) !== undefined,
  }));
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
