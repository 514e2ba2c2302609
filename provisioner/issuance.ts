import type { KeyObject } from 'node:crypto';
import { parseDeviceCsr, type ParsedCsr } from '../certs/csr.js';
import type { DeviceIssue, IssuingWorkers } from '../certs/issuing-workers.js';
import { generateDeviceKey, generateDeviceKeyAsync, type KeyType } from '../certs/keys.js';
import type { FleetCa, IssuedCertificate } from '../certs/types.js';
import { FleetkeyError } from '../errors/index.js';
import type { CertificateRecord } from '../store/types.js';

/** What the enrollment flows need to issue: the issuing workers, the CA and the certificate lifetime. */
export interface Issuer {
  readonly workers: IssuingWorkers;
  readonly ca: FleetCa;
  readonly lifetimeDays: number;
}

function requestBody(body: Buffer | string | undefined): Buffer | string {
  if (body === undefined || body.length === 0) throw new FleetkeyError('CSR_EMPTY', 'no request body');
  return body;
}

/**
 * A device's request, checked: the PKCS#10 parses, its self-signature verifies, the key is one we
 * accept, and the CN is exactly `deviceId` (CSR_* / KEY_UNSUPPORTED codes, 400). Nothing else it asks for counts.
 */
export function readDeviceCsr(body: Buffer | string | undefined, deviceId: string): ParsedCsr {
  return parseDeviceCsr(requestBody(body), deviceId);
}

/**
 * A device certificate for the key of a request that passes readDeviceCsr's checks (same refusals),
 * checked and signed on a worker thread, so a busy provisioner uses every core. The profile (names,
 * extensions, lifetime) is the CA's alone.
 */
export function issueFromRequest(issuer: Issuer, body: Buffer | string | undefined, deviceId: string): Promise<DeviceIssue> {
  return issuer.workers.fromCsr(requestBody(body), deviceId, issuer.lifetimeDays);
}

/** A device certificate for a key made here. */
export function issueForKey(issuer: Issuer, deviceId: string, key: { readonly spki: Buffer; readonly keyType: KeyType }): Promise<DeviceIssue> {
  return issuer.workers.forKey(key.spki, key.keyType, deviceId, issuer.lifetimeDays);
}

/**
 * A key pair made here, for serverkeygen and factory bundles; P-256 unless asked otherwise. Made on the
 * thread pool: an RSA-2048 key takes tens of milliseconds to hundreds, and this runs before the one-time
 * token is consumed, so made synchronously it would let unauthenticated requests stall the event loop.
 */
export function serverMadeKey(type: KeyType = 'ec-p256'): Promise<{ privateKey: KeyObject; publicKey: KeyObject }> {
  return type === 'ec-p256' ? Promise.resolve(generateDeviceKey(type)) : generateDeviceKeyAsync(type);
}

/** The store's record of an issued certificate. */
export function certificateRecord(issued: IssuedCertificate, subject: string, spki: Buffer): CertificateRecord {
  return {
    serial: issued.serial,
    subject,
    spki,
    notBefore: issued.notBefore,
    notAfter: issued.notAfter,
    fingerprint: issued.fingerprint,
    issuedAt: new Date(),
  };
}

/** PKCS#8 DER of a private key. */
export function pkcs8Der(key: KeyObject): Buffer {
  return key.export({ type: 'pkcs8', format: 'der' });
}
