import { createHash, randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import { newIdentity } from '../../../store/identity.js';
import { until } from '../../faults/store-services-process.js';
import { certificate, deviceId, newDevice, refuses, refusesUnchanged, registered, token, type OpenStore } from './fixtures.js';

/** A certificate record with DER bytes whose SHA-256 is its fingerprint, as enrollDevice checks. */
function withDer(subject: string): { cert: ReturnType<typeof certificate>; der: Buffer } {
  const der = randomBytes(300);
  return { cert: certificate(subject, { fingerprint: createHash('sha256').update(der).digest('hex') }), der };
}

/** A lost answer retried: the consumed token finds its enrollment within its life (Store.enrollmentOf, recordEnrollmentRetry). */
export function enrollmentRetryContract(t: Test, open: OpenStore): void {
  t.test('the consumed token finds the certificate and DER it enrolled; nothing else does', async (t) => {
    const store = await open(t);
    const [device, other] = await registered(store, 2);
    const { cert, der } = withDer(device!.id);
    await store.enrollDevice(device!.id, device!.token, cert, der);
    const found = await store.enrollmentOf(device!.id, device!.token);
    t.same(found?.certificate, cert, 'the enrolled certificate');
    t.ok(found?.der?.equals(der), 'its DER, byte for byte');
    t.equal(await store.enrollmentOf(device!.id, `${device!.token}x`), undefined, 'wrong token');
    t.equal(await store.enrollmentOf(device!.id, other!.token), undefined, "another device's token");
    t.equal(await store.enrollmentOf(other!.id, other!.token), undefined, 'a device not enrolled');
    t.equal(await store.enrollmentOf(deviceId(), device!.token), undefined, 'unknown device');
    await refuses(t, store.enrollmentOf('../etc', device!.token), 'ENROLLMENT_REFUSED', 'invalid device id');
    await refusesUnchanged(t, store, () => store.enrollDevice(device!.id, device!.token, withDer(device!.id).cert), 'ENROLLMENT_REFUSED', 'the token still enrolls only once');
  });

  t.test('without DER the enrollment is found without bytes; DER that is not the certificate is refused', async (t) => {
    const store = await open(t);
    const [plain, bad] = await registered(store, 2);
    const cert = certificate(plain!.id);
    await store.enrollDevice(plain!.id, plain!.token, cert);
    const found = await store.enrollmentOf(plain!.id, plain!.token);
    t.equal(found?.certificate.serial, cert.serial);
    t.equal(found?.der, undefined, 'no DER kept');
    await refusesUnchanged(t, store, () => store.enrollDevice(bad!.id, bad!.token, certificate(bad!.id), randomBytes(40)), 'STORE_INPUT_INVALID', 'foreign DER');
    t.equal((await store.getDevice(bad!.id))?.status, 'registered', 'still enrollable');
  });

  t.test('ignored once the token would have expired, the certificate or device is revoked, or the device re-provisioned', async (t) => {
    const store = await open(t);
    const short = newDevice(deviceId(), 1500);
    await store.registerDevices([short], 'test');
    const [revokedCert, revokedDevice, reprovisioned] = await registered(store, 3);
    const enroll = async (d: { id: string; token: string }) => {
      const { cert, der } = withDer(d.id);
      await store.enrollDevice(d.id, d.token, cert, der);
      return cert;
    };
    await enroll(short);
    t.ok(await store.enrollmentOf(short.id, short.token), 'found while the token lives');
    const revoked = await enroll(revokedCert!);
    await store.revokeCertificate(revoked.serial, 'keyCompromise', 'test');
    t.equal(await store.enrollmentOf(revokedCert!.id, revokedCert!.token), undefined, 'certificate revoked');
    await enroll(revokedDevice!);
    await store.revokeDevice(revokedDevice!.id, 'unspecified', 'test');
    t.equal(await store.enrollmentOf(revokedDevice!.id, revokedDevice!.token), undefined, 'device revoked');
    await enroll(reprovisioned!);
    const fresh = token();
    await store.reprovisionDevice(reprovisioned!.id, fresh, new Date(Date.now() + 3600_000), 'test');
    t.equal(await store.enrollmentOf(reprovisioned!.id, reprovisioned!.token), undefined, 'device re-provisioned: the old token');
    t.equal(await store.enrollmentOf(reprovisioned!.id, fresh), undefined, 'nor the new one before it is used');
    await until(async () => (await store.enrollmentOf(short.id, short.token)) === undefined, 10_000, 'the receipt to be ignored after the token expiry');
    t.pass('ignored after the token expiry');
  });

  t.test('a retry records a pending successor of the enrolled certificate, audited, under the same checks', async (t) => {
    const store = await open(t);
    const [device, other] = await registered(store, 2);
    const { cert, der } = withDer(device!.id);
    await store.enrollDevice(device!.id, device!.token, cert, der);
    const successor = certificate(device!.id, { supersedes: cert.serial });
    await store.recordEnrollmentRetry(device!.id, device!.token, successor);
    t.same(await store.getCertificate(successor.serial), successor, 'recorded as given, supersedes the enrolled one');
    const audit = await store.readAudit({ subject: device!.id });
    t.same(audit.entries.at(-1)?.action, 'device.enroll-retry');
    t.same(audit.entries.at(-1)?.detail, { serial: successor.serial, supersedes: cert.serial });
    t.same((await store.enrollmentOf(device!.id, device!.token))?.certificate.serial, cert.serial, 'the enrollment is still the first certificate');

    await refusesUnchanged(t, store, () => store.recordEnrollmentRetry(device!.id, `${device!.token}x`, certificate(device!.id, { supersedes: cert.serial })), 'ENROLLMENT_REFUSED', 'wrong token');
    await refusesUnchanged(t, store, () => store.recordEnrollmentRetry(other!.id, other!.token, certificate(other!.id, { supersedes: cert.serial })), 'ENROLLMENT_REFUSED', 'not enrolled');
    await refusesUnchanged(t, store, () => store.recordEnrollmentRetry(device!.id, device!.token, certificate(device!.id, { supersedes: successor.serial })), 'STORE_INPUT_INVALID', 'supersedes another serial');
    await refusesUnchanged(t, store, () => store.recordEnrollmentRetry(device!.id, device!.token, certificate(device!.id)), 'STORE_INPUT_INVALID', 'supersedes nothing');
    await refusesUnchanged(t, store, () => store.recordEnrollmentRetry(device!.id, device!.token, { ...successor }), 'CERTIFICATE_EXISTS', 'serial recorded before');
    await store.revokeCertificate(cert.serial, 'keyCompromise', 'test');
    await refusesUnchanged(t, store, () => store.recordEnrollmentRetry(device!.id, device!.token, certificate(device!.id, { supersedes: cert.serial })), 'ENROLLMENT_REFUSED', 'enrolled certificate revoked');
  });

  t.test('the receipt survives a backup and restore', async (t) => {
    const store = await open(t);
    const [device] = await registered(store);
    const { cert, der } = withDer(device!.id);
    await store.enrollDevice(device!.id, device!.token, cert, der);
    const snapshot = await store.exportState();
    const restored = await open(t);
    await restored.importState(snapshot, newIdentity(), { force: true });
    const found = await restored.enrollmentOf(device!.id, device!.token);
    t.equal(found?.certificate.serial, cert.serial, 'found after the restore');
    t.ok(found?.der?.equals(der), 'with its DER');
  });
}
