import { isFleetkeyError } from '../errors/index.js';
import type { CertificateRecord, Store } from './types.js';

/**
 * Which of a device's certificates is in use, across a re-enrollment.
 *
 * A re-enrollment records the new certificate with `supersedes` = the serial it replaces and leaves
 * that one valid: if the answer is lost on the way, the device still holds a working certificate and
 * simply re-enrolls again. The new certificate is *pending* until its first use, when the one it
 * supersedes is revoked (reason `superseded`), together with any other pending successor of it that
 * was never used. Its first use is the first broker CONNECT (broker/hooks.ts) or EST re-enrollment
 * (provisioner/reenroll.ts) made with it. Until then grants stay encrypted to the key the device
 * evidently holds.
 */

export type RevokedTest = (serial: string) => boolean;

function valid(c: CertificateRecord, isRevoked: RevokedTest, now: number): boolean {
  return !isRevoked(c.serial) && c.notBefore.getTime() <= now && now < c.notAfter.getTime();
}

/** The valid certificate `c` waits to replace, if it is a re-enrollment's not yet used. */
export function pendingPredecessor(c: CertificateRecord, records: readonly CertificateRecord[], isRevoked: RevokedTest, now: number): CertificateRecord | undefined {
  if (c.supersedes === undefined) return undefined;
  const predecessor = records.find((r) => r.serial === c.supersedes);
  return predecessor && valid(predecessor, isRevoked, now) ? predecessor : undefined;
}

/**
 * The subject's certificate in use: valid now, not revoked, not a pending successor; of several, the
 * one issued last. Grants are encrypted to its key, and it is the one a re-enrollment replaces.
 */
export function certificateInUse(records: readonly CertificateRecord[], isRevoked: RevokedTest, now: number): CertificateRecord | undefined {
  let best: CertificateRecord | undefined;
  for (const c of records) {
    if (!valid(c, isRevoked, now) || pendingPredecessor(c, records, isRevoked, now)) continue;
    if (!best || c.issuedAt.getTime() >= best.issuedAt.getTime()) best = c;
  }
  return best;
}

/** The pending successors of `serial` (recorded, valid, never used). */
export function pendingSuccessors(serial: string, records: readonly CertificateRecord[], isRevoked: RevokedTest, now: number): CertificateRecord[] {
  return records.filter((r) => r.supersedes === serial && valid(r, isRevoked, now));
}

/**
 * Revokes `serials` with reason `superseded` as `actor`; one another process revoked meanwhile is
 * skipped. Returns the serials this call revoked.
 */
export async function supersede(store: Store, serials: readonly string[], actor: string): Promise<string[]> {
  const revoked: string[] = [];
  for (const serial of serials) {
    try {
      await store.revokeCertificate(serial, 'superseded', actor);
      revoked.push(serial);
    } catch (err) {
      if (!isFleetkeyError(err, 'CERTIFICATE_ALREADY_REVOKED')) throw err;
    }
  }
  return revoked;
}

/**
 * The first use of `used`: if it is a pending successor, revokes the certificate it supersedes and
 * that one's other pending successors. Returns the serials revoked (none when `used` was not pending).
 */
export async function confirmFirstUse(store: Store, used: CertificateRecord, records: readonly CertificateRecord[], isRevoked: RevokedTest, actor: string, now = Date.now()): Promise<string[]> {
  const predecessor = pendingPredecessor(used, records, isRevoked, now);
  if (predecessor === undefined) return [];
  const siblings = pendingSuccessors(predecessor.serial, records, isRevoked, now).filter((c) => c.serial !== used.serial);
  return supersede(store, [predecessor.serial, ...siblings.map((c) => c.serial)], actor);
}

/**
 * The broker's side of confirmFirstUse: `serial` of `subject` has just been used to connect. Reads the
 * record (one store read; a second only while a predecessor may still be valid) and confirms it if
 * it is a pending successor.
 */
export async function confirmConnectUse(store: Store, subject: string, serial: string, isRevoked: RevokedTest, actor: string): Promise<string[]> {
  const record = await store.getCertificate(serial);
  if (record?.supersedes === undefined || record.subject !== subject || isRevoked(record.supersedes)) return [];
  return confirmFirstUse(store, record, await store.listCertificates(subject), isRevoked, actor);
}
