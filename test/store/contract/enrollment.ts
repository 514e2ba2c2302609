import type { Test } from 'tap';
import { certificate, deviceId, newDevice, refuses, refusesUnchanged, registered, watchEvent, type OpenStore } from './fixtures.js';

export function enrollmentContract(t: Test, open: OpenStore): void {
  t.test('enrolls with the right token: device active, certificate recorded, token spent', async (t) => {
    const store = await open(t);
    const [device] = await registered(store);
    const cert = certificate(device!.id);
    const changed = watchEvent(store, 'device-changed', (e) => e.deviceId === device!.id);
    await store.enrollDevice(device!.id, device!.token, cert);
    t.same(await changed.within(), { type: 'device-changed', deviceId: device!.id, status: 'active' });
    const record = await store.getDevice(device!.id);
    t.equal(record?.status, 'active');
    t.ok(record?.enrolledAt instanceof Date, 'enrolledAt set');
    t.equal(record?.tokenExpiresAt, undefined, 'token gone');
    const stored = await store.getCertificate(cert.serial);
    t.same(stored, cert, 'certificate recorded as given');
    t.ok(stored && Buffer.isBuffer(stored.spki) && stored.spki.equals(cert.spki), 'spki bytes round-trip');
    t.same(await store.listCertificates(device!.id), [cert]);
    const audit = await store.readAudit({ subject: device!.id });
    t.same(audit.entries.map((e) => [e.actor, e.action]), [['test', 'device.register'], [`device:${device!.id}`, 'device.enroll']]);
    await refusesUnchanged(t, store, () => store.enrollDevice(device!.id, device!.token, certificate(device!.id)), 'ENROLLMENT_REFUSED', 'token used');
  });

  t.test('of 50 concurrent attempts with the right token exactly one wins', async (t) => {
    const store = await open(t);
    const [device] = await registered(store);
    const certs = Array.from({ length: 50 }, () => certificate(device!.id));
    const results = await Promise.allSettled(certs.map((c) => store.enrollDevice(device!.id, device!.token, c)));
    const won = results.flatMap((r, i) => (r.status === 'fulfilled' ? [i] : []));
    t.equal(won.length, 1, 'one winner');
    t.ok(results.every((r) => r.status === 'fulfilled' || (r.reason as { code?: string }).code === 'ENROLLMENT_REFUSED'), 'the others refused');
    t.same((await store.listCertificates(device!.id)).map((c) => c.serial), [certs[won[0]!]!.serial], "only the winner's certificate");
  });

  t.test('refuses without saying why, changing nothing', async (t) => {
    const store = await open(t);
    const [device, expiring, revoked] = await registered(store, 3);
    const expired = newDevice(deviceId(), -1000);
    await store.registerDevices([expired], 'test');
    await store.revokeDevice(revoked!.id, 'unspecified', 'test');
    const cases: [string, string, string][] = [
      ['wrong token', device!.id, `${device!.token}x`],
      ['empty token', device!.id, ''],
      ["another device's token", device!.id, expiring!.token],
      ['expired token', expired.id, expired.token],
      ['unknown device', deviceId(), device!.token],
      ['revoked device', revoked!.id, revoked!.token],
      ['invalid device id', '../etc', device!.token],
    ];
    for (const [what, id, secret] of cases) {
      const subject = id === '../etc' ? device!.id : id;
      await refusesUnchanged(t, store, () => store.checkEnrollmentToken(id, secret), 'ENROLLMENT_REFUSED', `check: ${what}`);
      const err = await refuses(t, store.enrollDevice(id, secret, certificate(subject)), 'ENROLLMENT_REFUSED', what);
      t.ok(err?.detail, `${what}: the cause is kept for the log`);
      await refusesUnchanged(t, store, () => store.enrollDevice(id, secret, certificate(subject)), 'ENROLLMENT_REFUSED', what);
    }
    await store.checkEnrollmentToken(device!.id, device!.token);
    await store.checkEnrollmentToken(device!.id, device!.token);
    t.pass('checking the right token, twice, does not use it');
    await store.enrollDevice(device!.id, device!.token, certificate(device!.id));
    t.pass('the right token still works after the refusals');
    await refuses(t, store.checkEnrollmentToken(device!.id, device!.token), 'ENROLLMENT_REFUSED', 'check: token used');
  });

  t.test('a serial recorded before refuses the enrollment and keeps the token', async (t) => {
    const store = await open(t);
    const [first, second] = await registered(store, 2);
    const cert = certificate(first!.id);
    await store.enrollDevice(first!.id, first!.token, cert);
    const clash = { ...certificate(second!.id), serial: cert.serial };
    await refusesUnchanged(t, store, () => store.enrollDevice(second!.id, second!.token, clash), 'CERTIFICATE_EXISTS', 'duplicate serial');
    await refusesUnchanged(t, store, () => store.enrollDevice(second!.id, second!.token, certificate(first!.id)), 'STORE_INPUT_INVALID', 'certificate for another subject');
    await store.enrollDevice(second!.id, second!.token, certificate(second!.id));
    t.equal((await store.getDevice(second!.id))?.status, 'active', 'token still good after the refusal');
  });
}
