import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { identityFromCertificate } from '../certs/identity.js';
import type { IssuedCertificate } from '../certs/types.js';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import type { RevocationCache } from '../store/revocation-cache.js';
import type { CertificateRecord, Store } from '../store/types.js';
import type { EnrollDeps } from './enroll.js';
import { certificateRecord, issueFromRequest } from './issuance.js';

/**
 * RFC 7030 §4.2.2 simplereenroll over mutual TLS. The HTTPS port asks for client certificates but
 * lets a handshake without one through (Basic-auth enrollment shares the port), so a certificate
 * counts only when the TLS layer verified it against the fleet CA (`socket.authorized`): anyone can
 * present a self-signed `CN=victim`. Then the store decides whether it is the device's current one.
 */
export interface ReenrollDeps extends EnrollDeps {
  readonly revocations: RevocationCache;
}

/** The client certificate, only if the TLS layer verified its chain (validity and clientAuth included). */
export function trustedClientCertificate(socket: TLSSocket): X509Certificate {
  const peer = socket.getPeerCertificate?.();
  if (peer === undefined || peer === null || !peer.raw) throw new FleetkeyError('REENROLL_CERT_REQUIRED', 'no client certificate');
  if (socket.authorized !== true) {
    throw new FleetkeyError('REENROLL_CERT_REQUIRED', `client certificate not trusted: ${String(socket.authorizationError)}`);
  }
  return new X509Certificate(peer.raw);
}

/** The device id of a verified certificate's SAN URI; service or foreign certificates are refused. */
export function deviceIdentity(certificate: X509Certificate): string {
  const identity = identityFromCertificate(certificate);
  if (identity?.kind !== 'device') throw new FleetkeyError('REENROLL_REFUSED', `certificate ${certificate.serialNumber} names no device`);
  return identity.id;
}

/** The store's record of `presented`, if it is the device's newest certificate, unexpired and unrevoked, of an active device. */
async function currentCertificate(deps: ReenrollDeps, deviceId: string, presented: X509Certificate): Promise<CertificateRecord> {
  const serial = presented.serialNumber.toUpperCase();
  const refuse = (why: string): never => {
    throw new FleetkeyError('REENROLL_REFUSED', `${deviceId} with ${serial}: ${why}`);
  };
  const device = await deps.store.getDevice(deviceId);
  if (device?.status !== 'active') refuse(`device is ${device?.status ?? 'unknown'}`);
  const current = (await deps.store.listCertificates(deviceId)).at(-1);
  if (current === undefined || current.serial !== serial) refuse(`not the current certificate (${current?.serial ?? 'none'})`);
  if (current!.fingerprint !== createHash('sha256').update(presented.raw).digest('hex')) refuse('fingerprint differs from the record');
  if (deps.revocations.isRevoked(serial)) refuse('certificate revoked');
  if (current!.notAfter.getTime() <= Date.now()) refuse('certificate expired');
  return current!;
}

/**
 * Current certificate → CSR for the same device (a new key is fine) → sign → supersede the old
 * certificate (revoked with reason `superseded`: of concurrent attempts with one certificate exactly
 * one gets past this step) → record the new one → audit.
 */
export async function reenrollWithCertificate(
  deps: ReenrollDeps, deviceId: string, presented: X509Certificate, body: Buffer | undefined,
): Promise<IssuedCertificate> {
  const current = await currentCertificate(deps, deviceId, presented);
  const { issued, spki } = await issueFromRequest(deps.issuer, body, deviceId);
  const actor = `device:${deviceId}`;
  try {
    await deps.store.revokeCertificate(current.serial, 'superseded', actor);
  } catch (err) {
    if (isFleetkeyError(err, 'CERTIFICATE_ALREADY_REVOKED')) throw new FleetkeyError('REENROLL_REFUSED', `${deviceId}: ${current.serial} superseded meanwhile`);
    throw err;
  }
  await deps.store.recordCertificate(certificateRecord(issued, deviceId, spki));
  await deps.store.appendAudit({ actor, action: 'device.reenroll', subject: deviceId, detail: { serial: issued.serial, supersedes: current.serial } });
  return issued;
}
