import { toIssuedCertificate } from '../certs/certificate.js';
import type { IssuedCertificate } from '../certs/types.js';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import { auditActions } from '../store/records.js';
import type { CertificateRecord, Enrollment, Store } from '../store/types.js';

/**
 * Retries of a first enrollment whose answer was lost (the provisioner died, the connection was cut):
 * the one-time token was consumed and the certificate recorded, but the client never got them. Within
 * the token's life (tokenExpiresAt as registered) the same token finds that enrollment again
 * (`Store.enrollmentOf`); after it, or once the device or that certificate is revoked, it is refused
 * as any used token is.
 */

/**
 * Undefined when `token` may enroll `id` for the first time; the enrollment it made when this is a
 * retry; otherwise the refusal (ENROLLMENT_REFUSED as `checkEnrollmentToken` gives it).
 */
export async function earlierEnrollment(store: Store, id: string, token: string): Promise<Enrollment | undefined> {
  try {
    await store.checkEnrollmentToken(id, token);
    return undefined;
  } catch (err) {
    return enrollmentRetried(store, id, token, err);
  }
}

/**
 * After `refusal` of a token (by the check, or by `enrollDevice` when a concurrent attempt with the
 * same token won the enrollment): the enrollment that token made, if a retry may have it; else the refusal.
 */
export async function enrollmentRetried(store: Store, id: string, token: string, refusal: unknown): Promise<Enrollment> {
  if (!isFleetkeyError(refusal, 'ENROLLMENT_REFUSED')) throw refusal;
  const earlier = await store.enrollmentOf(id, token);
  if (earlier === undefined) throw refusal;
  return earlier;
}

/**
 * simpleenroll's retry: the same key gets the same certificate, byte for byte; another key is refused
 * (the token is spent on the key it enrolled). Audited `device.enroll-retry`.
 */
export async function sameCertificate(store: Store, id: string, earlier: Enrollment, spki: Buffer): Promise<IssuedCertificate> {
  const { certificate, der } = earlier;
  if (!certificate.spki.equals(spki)) throw new FleetkeyError('ENROLLMENT_REFUSED', `${id}: token already used for another key`);
  if (der === undefined) throw new FleetkeyError('ENROLLMENT_REFUSED', `${id}: token already used (its certificate's bytes were not kept)`);
  await store.appendAudit({ actor: `device:${id}`, action: auditActions.enrollRetry, subject: id, detail: { serial: certificate.serial, sameCertificate: true } });
  return toIssuedCertificate(der);
}

/**
 * Records a server-made key's certificate (serverkeygen, bundle): as the first enrollment when the token
 * is unused; as a pending successor of the enrolled certificate when this is a retry, or when a
 * concurrent first attempt won (store/succession.ts: the first use of either revokes the other).
 * Returns the serial it supersedes, if any.
 */
export async function recordServerMade(
  store: Store, id: string, token: string, record: CertificateRecord, der: Buffer, earlier: Enrollment | undefined,
): Promise<string | undefined> {
  let enrolled = earlier;
  if (enrolled === undefined) {
    try {
      await store.enrollDevice(id, token, record, der);
      return undefined;
    } catch (err) {
      enrolled = await enrollmentRetried(store, id, token, err);
    }
  }
  await store.recordEnrollmentRetry(id, token, { ...record, supersedes: enrolled.certificate.serial });
  return enrolled.certificate.serial;
}
