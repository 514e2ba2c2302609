import type { KeyObject } from 'node:crypto';
import type { KeyType } from '../certs/keys.js';
import { buildPkcs12 } from '../certs/pkcs12.js';
import type { IssuedCertificate } from '../certs/types.js';
import type { CertificateRecord, Store } from '../store/types.js';
import { crashPoint } from './crash-points.js';
import { earlierEnrollment, enrollmentRetried, recordServerMade, sameCertificate } from './enroll-retry.js';
import { certificateRecord, issueForKey, issueFromRequest, readDeviceCsr, serverMadeKey, type Issuer } from './issuance.js';

/**
 * First enrollment of a registered device, three ways: its own key (EST simpleenroll), a key the
 * server makes (EST serverkeygen), or a factory bundle (REST). Each checks the token first, so a wrong
 * one costs no signature check, signing or key generation; then the certificate is signed in
 * memory first and released only when `store.enrollDevice` has consumed the one-time token and
 * recorded the certificate in one atomic step, the same across replicas; a refused attempt's
 * certificate is discarded unrecorded, and nothing in the store changes.
 *
 * A retry with the consumed token within its life (the answer was lost) is served by enroll-retry.ts:
 * simpleenroll sends the same certificate again for the same key; serverkeygen and bundles, whose key
 * was never stored, make a new one whose certificate is a pending successor of the enrolled one.
 */
export interface EnrollDeps {
  readonly issuer: Issuer;
  readonly store: Store;
}

/** What a first enrollment answers. */
export interface Enrolled {
  readonly issued: IssuedCertificate;
  /** This answer repeats or replaces an earlier enrollment of the same token. */
  readonly retried: boolean;
}

/** RFC 7030 §4.2.1: the device's CSR, Basic credentials = device id + enrollment token. */
export async function enrollWithCsr(deps: EnrollDeps, deviceId: string, token: string, body: Buffer | undefined): Promise<Enrolled> {
  const earlier = await earlierEnrollment(deps.store, deviceId, token);
  if (earlier !== undefined) {
    return { issued: await sameCertificate(deps.store, deviceId, earlier, readDeviceCsr(body, deviceId).spki), retried: true };
  }
  await crashPoint('before-sign');
  const { issued, spki } = await issueFromRequest(deps.issuer, body, deviceId);
  await crashPoint('after-sign');
  try {
    await deps.store.enrollDevice(deviceId, token, certificateRecord(issued, deviceId, spki), issued.der);
  } catch (err) {
    // A concurrent attempt with this token won: its certificate, if it was for this key.
    const winner = await enrollmentRetried(deps.store, deviceId, token, err);
    return { issued: await sameCertificate(deps.store, deviceId, winner, spki), retried: true };
  }
  await crashPoint('after-record');
  return { issued, retried: false };
}

export interface ServerMadeIdentity extends Enrolled {
  readonly privateKey: KeyObject;
  /** On a retry: the enrolled certificate this one waits to replace (store/succession.ts). */
  readonly supersedes: string | undefined;
}

/**
 * RFC 7030 §4.4.1: the CSR names the device (its CN) and picks the key type; its own key is not used.
 * The new key exists only in memory until it is sent.
 */
export async function enrollWithServerKey(deps: EnrollDeps, deviceId: string, token: string, body: Buffer | undefined): Promise<ServerMadeIdentity> {
  const earlier = await earlierEnrollment(deps.store, deviceId, token);
  const csr = readDeviceCsr(body, deviceId);
  await crashPoint('before-sign');
  const made = await serverMadeIdentity(deps, deviceId, csr.keyType);
  await crashPoint('after-sign');
  const supersedes = await recordServerMade(deps.store, deviceId, token, made.record, made.issued.der, earlier);
  await crashPoint('after-record');
  return { issued: made.issued, privateKey: made.privateKey, supersedes, retried: supersedes !== undefined };
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
  const earlier = await earlierEnrollment(deps.store, deviceId, token);
  await crashPoint('before-sign');
  const { issued, privateKey, record } = await serverMadeIdentity(deps, deviceId, keyType);
  await crashPoint('after-sign');
  const { ca } = deps.issuer;
  const pkcs12 = await buildPkcs12({
    privateKey,
    certificate: issued.der,
    chain: [ca.issuing.certificate.der, ca.root.certificate.der],
    password,
    friendlyName: deviceId,
  });
  const supersedes = await recordServerMade(deps.store, deviceId, token, record, issued.der, earlier);
  await crashPoint('after-record');
  return { issued, privateKey, pkcs12, supersedes, retried: supersedes !== undefined };
}

/** A key made here and its certificate, signed but not yet recorded, with the record that enrolls it. */
async function serverMadeIdentity(deps: EnrollDeps, deviceId: string, keyType: KeyType) {
  const keys = await serverMadeKey(keyType);
  const spki = keys.publicKey.export({ type: 'spki', format: 'der' });
  const { issued } = await issueForKey(deps.issuer, deviceId, { keyType, spki });
  const record: CertificateRecord = certificateRecord(issued, deviceId, spki);
  return { issued, privateKey: keys.privateKey, record };
}
