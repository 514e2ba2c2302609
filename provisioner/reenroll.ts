import { createHash, X509Certificate } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { CERT_TIME_CODES, certTimeMessage, certTimeReason } from '../certs/clock.js';
import { identityFromCertificate } from '../certs/identity.js';
import type { IssuedCertificate } from '../certs/types.js';
import { FleetkeyError } from '../errors/index.js';
import type { RevocationCache } from '../store/revocation-cache.js';
import { certificateInUse, confirmFirstUse, pendingPredecessor, pendingSuccessors, supersede } from '../store/succession.js';
import type { CertificateRecord } from '../store/types.js';
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
    // A certificate out of time by this clock says which clocks to check (certs/clock.ts): 403 with its own code.
    const timeReason = certTimeReason(socket.authorizationError);
    if (timeReason) {
      const cert = new X509Certificate(peer.raw);
      const validity = { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
      throw new FleetkeyError(CERT_TIME_CODES[timeReason], `client ${certTimeMessage(timeReason, "this provisioner's", Date.now(), validity)}`);
    }
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

/** What a re-enrollment found out about the presented certificate. */
interface Presented {
  readonly record: CertificateRecord;
  readonly records: readonly CertificateRecord[];
}

/**
 * The store's record of `presented`, if it is the active device's certificate in use, or a pending
 * successor of it (store/succession.ts), unexpired and unrevoked.
 */
async function presentedCertificate(deps: ReenrollDeps, deviceId: string, presented: X509Certificate): Promise<Presented> {
  const serial = presented.serialNumber.toUpperCase();
  const refuse = (why: string): never => {
    throw new FleetkeyError('REENROLL_REFUSED', `${deviceId} with ${serial}: ${why}`);
  };
  // A certificate revoked while this process's event feed was cut must not re-enroll: 503, try again.
  if (!deps.revocations.isFresh()) throw new FleetkeyError('STORE_UNAVAILABLE', 'revocations may be stale');
  const device = await deps.store.getDevice(deviceId);
  if (device?.status !== 'active') refuse(`device is ${device?.status ?? 'unknown'}`);
  const records = await deps.store.listCertificates(deviceId);
  const record = records.find((c) => c.serial === serial) ?? refuse('not a certificate of this device');
  if (record.fingerprint !== createHash('sha256').update(presented.raw).digest('hex')) refuse('fingerprint differs from the record');
  if (deps.revocations.isRevoked(serial)) refuse('certificate revoked');
  const now = Date.now();
  if (record.notAfter.getTime() <= now) refuse('certificate expired');
  const { isRevoked } = deps.revocations;
  const inUse = certificateInUse(records, isRevoked, now);
  const replaces = pendingPredecessor(record, records, isRevoked, now);
  if (inUse === undefined || (inUse.serial !== serial && replaces?.serial !== inUse.serial)) {
    refuse(`not the certificate in use (${inUse?.serial ?? 'none'})`);
  }
  return { record, records };
}

/**
 * Certificate in use (or its pending successor, whose first use this is) → CSR for the same device (a
 * new key is fine) → sign → record the new certificate as a pending successor → audit. The presented
 * certificate stays valid until the new one is first used; successors of it that never were are
 * revoked now, so at most the newest answer works alongside it. Returns the serials this revoked.
 */
export async function reenrollWithCertificate(
  deps: ReenrollDeps, deviceId: string, presented: X509Certificate, body: Buffer | undefined,
): Promise<{ issued: IssuedCertificate; superseded: string[] }> {
  const { record, records } = await presentedCertificate(deps, deviceId, presented);
  const { issued, spki } = await issueFromRequest(deps.issuer, body, deviceId);
  const actor = `device:${deviceId}`;
  const { isRevoked } = deps.revocations;
  const now = Date.now();
  const superseded = [
    ...(await confirmFirstUse(deps.store, record, records, isRevoked, actor, now)),
    ...(await supersede(deps.store, pendingSuccessors(record.serial, records, isRevoked, now).map((c) => c.serial), actor)),
  ];
  await deps.store.recordCertificate({ ...certificateRecord(issued, deviceId, spki), supersedes: record.serial });
  await deps.store.appendAudit({ actor, action: 'device.reenroll', subject: deviceId, detail: { serial: issued.serial, supersedes: record.serial } });
  return { issued, superseded };
}
