import type { KeyObject } from 'node:crypto';
import type { KeyType } from '../certs/keys.js';
import { buildPkcs12 } from '../certs/pkcs12.js';
import type { IssuedCertificate } from '../certs/types.js';
import type { CertificateRecord, Store } from '../store/types.js';
import { certificateRecord, issueForKey, issueFromRequest, readDeviceCsr, serverMadeKey, type Issuer } from './issuance.js';

/**
 * First enrollment of a registered device, three ways: its own key (EST simpleenroll), a key the
 * server makes (EST serverkeygen), or a factory bundle (REST). Each checks the token first, so a wrong
 * one costs no signature check, signing or key generation; then the certificate is signed in
 * memory first and released only when `store.enrollDevice` has consumed the one-time token and
 * recorded the certificate in one atomic step, the same across replicas; a refused attempt's
 * certificate is discarded unrecorded, and nothing in the store changes.
 */
export interface EnrollDeps {
  readonly issuer: Issuer;
  readonly store: Store;
}

/** RFC 7030 §4.2.1: the device's CSR, Basic credentials = device id + enrollment token. */
export async function enrollWithCsr(deps: EnrollDeps, deviceId: string, token: string, body: Buffer | undefined): Promise<IssuedCertificate> {
  await deps.store.checkEnrollmentToken(deviceId, token);
  const { issued, spki } = await issueFromRequest(deps.issuer, body, deviceId);
  await deps.store.enrollDevice(deviceId, token, certificateRecord(issued, deviceId, spki));
  return issued;
}

export interface ServerMadeIdentity {
  readonly issued: IssuedCertificate;
  readonly privateKey: KeyObject;
}

/**
 * RFC 7030 §4.4.1: the CSR names the device (its CN) and picks the key type; its own key is not used.
 * The new key exists only in memory until it is sent.
 */
export async function enrollWithServerKey(deps: EnrollDeps, deviceId: string, token: string, body: Buffer | undefined): Promise<ServerMadeIdentity> {
  await deps.store.checkEnrollmentToken(deviceId, token);
  const csr = readDeviceCsr(body, deviceId);
  const made = await serverMadeIdentity(deps, deviceId, csr.keyType);
  await deps.store.enrollDevice(deviceId, token, made.record);
  return { issued: made.issued, privateKey: made.privateKey };
}

export interface FactoryBundle extends ServerMadeIdentity {
  readonly pkcs12: Buffer;
}

/**
 * A factory bundle (REST `POST /v1/devices/{id}/bundle`): server-made key, certificate and chain as a
 * PKCS#12 under the caller's password. The bundle is built before the token is consumed, so a bad
 * password (PKCS12_PASSWORD_TOO_SHORT) leaves the device enrollable.
 */
export async function enrollWithBundle(
  deps: EnrollDeps, deviceId: string, token: string, password: string, keyType: KeyType,
): Promise<FactoryBundle> {
  await deps.store.checkEnrollmentToken(deviceId, token);
  const { issued, privateKey, record } = await serverMadeIdentity(deps, deviceId, keyType);
  const { ca } = deps.issuer;
  const pkcs12 = await buildPkcs12({
    privateKey,
    certificate: issued.der,
    chain: [ca.issuing.certificate.der, ca.root.certificate.der],
    password,
    friendlyName: deviceId,
  });
  await deps.store.enrollDevice(deviceId, token, record);
  return { issued, privateKey, pkcs12 };
}

/** A key made here and its certificate, signed but not yet recorded, with the record that enrolls it. */
async function serverMadeIdentity(deps: EnrollDeps, deviceId: string, keyType: KeyType): Promise<ServerMadeIdentity & { readonly record: CertificateRecord }> {
  const keys = await serverMadeKey(keyType);
  const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
  const { issued } = await issueForKey(deps.issuer, deviceId, { keyType, spki });
  const record = certificateRecord(issued, deviceId, spki);
  return { issued, privateKey: keys.privateKey, record };
}
