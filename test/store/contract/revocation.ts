import type { Test } from 'tap';
import { RevocationCache } from '../../../store/revocation-cache.js';
import { bySerial, certificate, deviceId, enrolled, refusesUnchanged, registered, serial, token, watchEvent, type OpenStore } from './fixtures.js';

export function revocationContract(t: Test, open: OpenStore): void {
  t.test('records certificates once, lists them by subject and by expiry', async (t) => {
    const store = await open(t);
    const { id, cert } = await enrolled(store);
    const later = certificate(id, { notAfter: new Date(Date.now() + 400 * 86400_000) });
    const service = certificate('service:kdc');
    await store.recordCertificate(later);
    await store.recordCertificate(service);
    t.same(bySerial(await store.listCertificates(id)), bySerial([cert, later]));
    t.same(await store.listCertificates('service:kdc'), [service]);
    t.equal(await store.getCertificate(serial()), undefined, 'unknown serial');
    const soon = new Date(Date.now() + 100 * 86400_000);
    t.same(bySerial(await store.listExpiringCertificates(soon)), bySerial([cert, service]));
    await store.revokeCertificate(cert.serial, 'superseded', 'test');
    t.same(await store.listExpiringCertificates(soon), [service], 'revoked certificates are not expiring');

    await refusesUnchanged(t, store, () => store.recordCertificate({ ...certificate(id), serial: later.serial }), 'CERTIFICATE_EXISTS', 'duplicate serial');
    await refusesUnchanged(t, store, () => store.recordCertificate(certificate(deviceId())), 'DEVICE_NOT_FOUND', 'unknown device');
    await refusesUnchanged(t, store, () => store.recordCertificate({ ...certificate(id), serial: 'abc' }), 'STORE_INPUT_INVALID', 'lower-case serial');
    await refusesUnchanged(t, store, () => store.recordCertificate({ ...certificate(id), fingerprint: 'xyz' }), 'STORE_INPUT_INVALID', 'bad fingerprint');
    await refusesUnchanged(t, store, () => store.recordCertificate(certificate('service:')), 'STORE_INPUT_INVALID', 'bad subject');
  });

  t.test('keeps which certificate a re-enrolled one supersedes; only one of the same subject', async (t) => {
    const store = await open(t);
    const { id, cert } = await enrolled(store);
    const successor = certificate(id, { supersedes: cert.serial });
    await store.recordCertificate(successor);
    t.same(await store.getCertificate(successor.serial), successor, 'read back with supersedes');
    t.same(bySerial(await store.listCertificates(id)), bySerial([cert, successor]));
    const other = await enrolled(store);
    await refusesUnchanged(t, store, () => store.recordCertificate(certificate(id, { supersedes: serial() })), 'CERTIFICATE_NOT_FOUND', 'supersedes an unknown serial');
    await refusesUnchanged(t, store, () => store.recordCertificate(certificate(id, { supersedes: other.cert.serial })), 'CERTIFICATE_NOT_FOUND', 'supersedes another device\'s certificate');
    await refusesUnchanged(t, store, () => store.recordCertificate(certificate(id, { supersedes: 'abc' })), 'STORE_INPUT_INVALID', 'supersedes a malformed serial');
    const self = certificate(id);
    await refusesUnchanged(t, store, () => store.recordCertificate({ ...self, supersedes: self.serial }), 'STORE_INPUT_INVALID', 'supersedes itself');
  });

  t.test('revokes one certificate: record, event, CRL entry; twice is refused', async (t) => {
    const store = await open(t);
    const { id, cert } = await enrolled(store);
    const revoked = watchEvent(store, 'revoked', (e) => e.serials.includes(cert.serial));
    const record = await store.revokeCertificate(cert.serial, 'keyCompromise', 'api:op');
    const event = await revoked.within(100);
    t.same(event, { type: 'revoked', subject: id, serials: [cert.serial], reason: 'keyCompromise', at: record.revokedAt.toISOString(), seq: 1 });
    t.same(record, { serial: cert.serial, subject: id, reason: 'keyCompromise', revokedAt: record.revokedAt });
    t.same(await store.listRevocations(), [record]);
    t.equal((await store.getDevice(id))?.status, 'active', 'one serial does not revoke the device');
    await refusesUnchanged(t, store, () => store.revokeCertificate(cert.serial, 'keyCompromise', 'api:op'), 'CERTIFICATE_ALREADY_REVOKED', 'again');
    await refusesUnchanged(t, store, () => store.revokeCertificate(serial(), 'keyCompromise', 'api:op'), 'CERTIFICATE_NOT_FOUND', 'unknown serial');
    const other = await enrolled(store);
    await refusesUnchanged(t, store, () => store.revokeCertificate(other.cert.serial, 'bogus' as never, 'api:op'), 'STORE_INPUT_INVALID', 'unknown reason');
    t.same((await store.readAudit({ subject: cert.serial })).entries.map((e) => [e.actor, e.action]), [['api:op', 'certificate.revoke']]);
  });

  t.test('re-provisions an active device: every serial revoked, registered again with a new token', async (t) => {
    const store = await open(t);
    const { id, cert } = await enrolled(store);
    const second = certificate(id);
    await store.recordCertificate(second);
    const earlier = await store.revokeCertificate(cert.serial, 'superseded', 'test');
    const revoked = watchEvent(store, 'revoked', (e) => e.subject === id);
    const changed = watchEvent(store, 'device-changed', (e) => e.deviceId === id);
    const fresh = token();
    const expires = new Date(Date.now() + 3_600_000);
    const records = await store.reprovisionDevice(id, fresh, expires, 'api:op');
    const [event, change] = await Promise.all([revoked.within(100), changed.within(100)]);
    t.same(records.map((r) => [r.serial, r.reason]), [[second.serial, 'superseded']], 'the serials not yet revoked');
    t.same(event.serials, [second.serial]);
    t.same(change, { type: 'device-changed', deviceId: id, status: 'registered' });
    t.match(await store.getDevice(id), { status: 'registered', enrolledAt: undefined, tokenExpiresAt: expires });
    t.same(bySerial(await store.listRevocations()), bySerial([earlier, ...records]));
    t.same((await store.readAudit({ subject: id })).entries.map((e) => e.action).slice(-1), ['device.reprovision']);
    await refusesUnchanged(t, store, () => store.reprovisionDevice(id, token(), expires, 'api:op'), 'DEVICE_STATE_CONFLICT', 'a registered device');
    await refusesUnchanged(t, store, () => store.reprovisionDevice(deviceId(), token(), expires, 'api:op'), 'DEVICE_NOT_FOUND', 'unknown device');
    await refusesUnchanged(t, store, () => store.reprovisionDevice(id, 'short', expires, 'api:op'), 'STORE_INPUT_INVALID', 'a short token');
    const next = certificate(id);
    await store.enrollDevice(id, fresh, next);
    t.equal((await store.getDevice(id))?.status, 'active', 'the new token enrolls the device again');
    await refusesUnchanged(t, store, () => store.enrollDevice(id, fresh, certificate(id)), 'ENROLLMENT_REFUSED', 'the new token is single-use');
    await store.revokeDevice(id, 'keyCompromise', 'api:op');
    await refusesUnchanged(t, store, () => store.reprovisionDevice(id, token(), expires, 'api:op'), 'DEVICE_STATE_CONFLICT', 'a revoked device');
  });

  t.test('revokes a device and every serial it holds', async (t) => {
    const store = await open(t);
    const { id, cert } = await enrolled(store);
    const second = certificate(id);
    const old = certificate(id);
    await store.recordCertificate(second);
    await store.recordCertificate(old);
    const oldRecord = await store.revokeCertificate(old.serial, 'superseded', 'test');
    const revoked = watchEvent(store, 'revoked', (e) => e.subject === id);
    const changed = watchEvent(store, 'device-changed', (e) => e.deviceId === id);
    const records = await store.revokeDevice(id, 'cessationOfOperation', 'cli');
    const [event, change] = await Promise.all([revoked.within(100), changed.within(100)]);
    t.same(bySerial(records).map((r) => r.serial), bySerial([cert, second]).map((c) => c.serial), 'the serials not yet revoked');
    t.same(event.serials.sort(), [cert.serial, second.serial].sort());
    t.equal(event.reason, 'cessationOfOperation');
    t.same(change, { type: 'device-changed', deviceId: id, status: 'revoked', seq: 2 });
    t.equal((await store.getDevice(id))?.status, 'revoked');
    t.same(bySerial(await store.listRevocations()), bySerial([oldRecord, ...records]));
    await refusesUnchanged(t, store, () => store.revokeDevice(id, 'unspecified', 'cli'), 'DEVICE_STATE_CONFLICT', 'already revoked');
    await refusesUnchanged(t, store, () => store.revokeDevice(deviceId(), 'unspecified', 'cli'), 'DEVICE_NOT_FOUND', 'unknown device');
    await refusesUnchanged(t, store, () => store.recordCertificate(certificate(id)), 'DEVICE_STATE_CONFLICT', 'certificate for a revoked device');
    const [unenrolled] = await registered(store);
    t.same(await store.revokeDevice(unenrolled!.id, 'unspecified', 'cli'), [], 'a device without certificates');
  });

  t.test('CRL numbers only grow, also under concurrency', async (t) => {
    const store = await open(t);
    const first = await store.nextCrlNumber();
    t.equal(typeof first, 'bigint');
    const second = await store.nextCrlNumber();
    t.ok(second > first, 'increasing');
    const many = await Promise.all(Array.from({ length: 20 }, () => store.nextCrlNumber()));
    t.equal(new Set(many).size, 20, 'all distinct');
    t.ok(many.every((n) => n > second), 'all above the earlier ones');
  });

  t.test('RevocationCache loads what is revoked and follows events', async (t) => {
    const store = await open(t);
    const before = await enrolled(store);
    await store.revokeDevice(before.id, 'keyCompromise', 'test');
    const superseded = await enrolled(store);
    await store.revokeCertificate(superseded.cert.serial, 'superseded', 'test');
    const cache = await RevocationCache.open(store);
    t.teardown(() => cache.close());
    t.ok(cache.isRevoked(before.cert.serial), 'loaded serial');
    t.ok(cache.isSubjectRevoked(before.id), 'loaded device');
    t.ok(cache.isRevoked(superseded.cert.serial), 'loaded single serial');
    t.notOk(cache.isSubjectRevoked(superseded.id), 'a superseded certificate does not revoke its device');
    const live = await enrolled(store);
    t.notOk(cache.isRevoked(live.cert.serial));
    const changed = watchEvent(store, 'device-changed', (e) => e.deviceId === live.id);
    await store.revokeDevice(live.id, 'keyCompromise', 'test');
    await changed.within(100);
    t.ok(cache.isRevoked(live.cert.serial) && cache.isSubjectRevoked(live.id), 'kept current by events within 100 ms');
  });
}
