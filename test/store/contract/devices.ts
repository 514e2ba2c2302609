import type { Test } from 'tap';
import { limits } from '../../../store/records.js';
import { certificate, deviceId, enrolled, newDevice, refuses, refusesUnchanged, registered, type OpenStore } from './fixtures.js';

export function devicesContract(t: Test, open: OpenStore): void {
  t.test('registers one device and reads it back without its token', async (t) => {
    const store = await open(t);
    const device = newDevice();
    const before = Date.now();
    const [record] = await store.registerDevices([device], 'api:factory-1');
    t.equal(record!.id, device.id);
    t.equal(record!.status, 'registered');
    t.ok(record!.createdAt instanceof Date && record!.createdAt.getTime() >= before - 1000, 'createdAt is a Date');
    t.same(record!.tokenExpiresAt, device.tokenExpiresAt);
    t.equal(record!.enrolledAt, undefined);
    const read = await store.getDevice(device.id);
    t.same(read, record);
    t.notOk(JSON.stringify(read).includes(device.token), 'no clear token in the record');
    t.notOk(read && 'tokenHash' in read, 'no token hash in the record');
    t.equal(await store.getDevice(deviceId()), undefined, 'unknown device reads as undefined');
    t.same(await store.countDevices(), { registered: 1, active: 0, revoked: 0 });
    const audit = await store.readAudit({ subject: device.id });
    t.same(audit.entries.map((e) => [e.actor, e.action]), [['api:factory-1', 'device.register']]);
  });

  t.test('registers a batch; a batch with one taken or repeated id applies nothing', async (t) => {
    const store = await open(t);
    const batch = await registered(store, 250);
    t.same(await store.countDevices(), { registered: 250, active: 0, revoked: 0 });
    const fresh = [newDevice(), newDevice()];
    await refusesUnchanged(t, store, () => store.registerDevices([...fresh, newDevice(batch[7]!.id)], 'test'), 'DEVICE_EXISTS', 'one id taken');
    t.equal(await store.getDevice(fresh[0]!.id), undefined, 'the rest of the batch was not applied');
    await refusesUnchanged(t, store, () => store.registerDevices([fresh[0]!, newDevice(fresh[0]!.id)], 'test'), 'DEVICE_EXISTS', 'id twice in a batch');
    t.same(await store.registerDevices([], 'test'), [], 'an empty batch is a no-op');
  });

  t.test('refuses invalid ids and tokens', async (t) => {
    const store = await open(t);
    await registered(store, 2);
    for (const bad of ['', '-lead', '.lead', 'a/b', 'a b', 'ä', 'x'.repeat(65), 'a\u0000']) {
      await refusesUnchanged(t, store, () => store.registerDevices([newDevice(), newDevice(bad)], 'test'), 'DEVICE_ID_INVALID', `id ${JSON.stringify(bad)}`);
    }
    await refuses(t, store.getDevice('a/b'), 'DEVICE_ID_INVALID', 'getDevice with an invalid id');
    const short = { ...newDevice(), token: 'short' };
    await refusesUnchanged(t, store, () => store.registerDevices([short], 'test'), 'STORE_INPUT_INVALID', 'token too short');
    const undated = { ...newDevice(), tokenExpiresAt: new Date(Number.NaN) };
    await refusesUnchanged(t, store, () => store.registerDevices([undated], 'test'), 'STORE_INPUT_INVALID', 'invalid expiry');
    const tooMany = Array.from({ length: limits.registerBatchMax + 1 }, () => newDevice());
    await refusesUnchanged(t, store, () => store.registerDevices(tooMany, 'test'), 'STORE_INPUT_INVALID', 'batch over the limit');
    const ok = ['a', 'A.b_c-9', '0', 'x'.repeat(64)].map((id) => newDevice(id));
    t.equal((await store.registerDevices(ok, 'test')).length, 4, 'edge-case valid ids accepted');
  });

  t.test('lists devices by id with cursor pagination and a status filter', async (t) => {
    const store = await open(t);
    const all = await registered(store, 23, 'list');
    const ids = all.map((d) => d.id).sort();
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await store.listDevices({ limit: 5, ...(cursor === undefined ? {} : { cursor }) });
      t.ok(page.devices.length <= 5, 'page within limit');
      seen.push(...page.devices.map((d) => d.id));
      cursor = page.nextCursor;
      pages += 1;
    } while (cursor !== undefined && pages < 20);
    t.same(seen, ids, 'every device once, in id order');
    t.ok(pages >= 5 && pages <= 6, `${pages} pages of 5`);

    for (const d of all.slice(0, 7)) await store.enrollDevice(d.id, d.token, certificate(d.id));
    await store.revokeDevice(all[0]!.id, 'keyCompromise', 'test');
    const active: string[] = [];
    cursor = undefined;
    do {
      const page = await store.listDevices({ status: 'active', limit: 2, ...(cursor === undefined ? {} : { cursor }) });
      t.ok(page.devices.every((d) => d.status === 'active'), 'only active devices');
      active.push(...page.devices.map((d) => d.id));
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    t.same(active, all.slice(1, 7).map((d) => d.id).sort());
    t.same((await store.listDevices({ status: 'revoked' })).devices.map((d) => d.id), [all[0]!.id]);
    t.same(await store.countDevices(), { registered: 16, active: 6, revoked: 1 });
    await refuses(t, store.listDevices({ cursor: '%%%' }), 'CURSOR_INVALID', 'garbage cursor');
    await refuses(t, store.listDevices({ limit: 0 }), 'STORE_INPUT_INVALID', 'limit 0');
    await refuses(t, store.listDevices({ status: 'lost' as never }), 'STORE_INPUT_INVALID', 'unknown status');
  });

  t.test('renews the enrollment token of a registered device only', async (t) => {
    const store = await open(t);
    const [device] = await registered(store);
    const fresh = newDevice(device!.id);
    await store.renewEnrollmentToken(device!.id, fresh.token, fresh.tokenExpiresAt, 'cli');
    t.same((await store.getDevice(device!.id))?.tokenExpiresAt, fresh.tokenExpiresAt);
    await refuses(t, store.enrollDevice(device!.id, device!.token, certificate(device!.id)), 'ENROLLMENT_REFUSED', 'the old token');
    await store.enrollDevice(device!.id, fresh.token, certificate(device!.id));
    await refusesUnchanged(t, store, () => store.renewEnrollmentToken(device!.id, fresh.token, fresh.tokenExpiresAt, 'cli'), 'DEVICE_STATE_CONFLICT', 'enrolled device');
    await refusesUnchanged(t, store, () => store.renewEnrollmentToken(deviceId(), fresh.token, fresh.tokenExpiresAt, 'cli'), 'DEVICE_NOT_FOUND', 'unknown device');
    const audit = await store.readAudit({ subject: device!.id });
    t.same(audit.entries.map((e) => e.action), ['device.register', 'device.renew-token', 'device.enroll']);
    const { id } = await enrolled(store);
    t.equal((await store.getDevice(id))?.status, 'active');
  });
}
