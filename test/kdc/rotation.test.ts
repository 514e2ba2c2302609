import t from 'tap';
import { join } from 'node:path';
import { openStore } from '../../store/index.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { enrolledDevice, rig, SimDevice, sleep, startKdc, until } from './kit.js';

t.test('a device revoked before a rotation gets no grant in the new epoch; every other device does', async (t) => {
  const fleet = await testFleet(t);
  // The broker keeps its own store, so the revoked device stays connected: the KDC alone must refuse it.
  const brokerStore = await openStore(`file:${join(fleet.dir, 'broker-store')}`);
  t.teardown(() => brokerStore.close());
  const r = rig(fleet, await startBroker(t, fleet, { store: brokerStore }));
  const kdc = await startKdc(t, r, { switchAfterSeconds: 2 });
  const devices = await Promise.all(Array.from({ length: 8 }, async (_, i) => SimDevice.connect(t, r, `rot-${i}`, await enrolledDevice(fleet, `rot-${i}`))));
  await Promise.all(devices.map((d) => d.next()));
  const [revoked, ...others] = devices as [SimDevice, ...SimDevice[]];
  await fleet.store.revokeDevice(revoked.id, 'keyCompromise', 'test');

  const before = Date.now();
  const result = await kdc.rotate({ requestedBy: 'test' });
  t.match(result, { outcome: 'rotated', epoch: 2, granted: others.length, failed: 0 });
  const grants = await Promise.all(others.map((d) => d.next((g) => g.epoch === 2)));
  for (const g of grants) {
    t.equal(g.req, undefined, `${g.sub}: a rotation grant answers no request`);
    t.equal(g.grant, 1);
    t.ok(g.nbf >= Math.floor(before / 1000) + 2, `${g.sub}: nbf is switchAfter ahead`);
  }
  await sleep(300);
  t.same(revoked.grants.map((g) => g.epoch), [1], 'the revoked device got nothing in epoch 2');
  await until(async () => (await fleet.store.epochProgress(2)).acked === others.length, 5000, 'acks');
  t.same(await fleet.store.epochProgress(2), { epoch: 2, granted: others.length, acked: others.length });
  t.equal((await fleet.store.getEpoch(2))?.state, 'distributed');
  t.same(others[0]!.keyring.current()?.epoch, 1, 'devices keep epoch 1 until nbf');
  await until(() => others[0]!.keyring.current()?.epoch === 2, 4000, 'switch at nbf');
  t.equal((await fleet.store.readAudit({ subject: '2' })).entries.filter((e) => e.action === 'epoch.rotate').length, 1, 'audited');
});

t.test('rotation requests: the store event, one at a time, the schedule, and retention of 2 epochs back', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const kdc = await startKdc(t, r, { switchAfterSeconds: 0 });
  const device = await SimDevice.connect(t, r, 'dev-a', await enrolledDevice(fleet, 'dev-a'));
  await device.next();

  const [a, b] = await Promise.all([kdc.rotate(), kdc.rotate()]);
  t.same([a.outcome, b.outcome].sort(), ['in-progress', 'rotated'], 'a second call during a rotation does not start another');

  await fleet.store.publish({ type: 'rotate-requested', requestedBy: 'api:test', switchAfterSeconds: 0 });
  await until(() => kdc.currentEpoch()?.epoch === 3 && kdc.currentEpoch()?.state === 'distributed', 5000, 'epoch 3 from the store event');
  await device.next((g) => g.epoch === 3);
  t.ok(await fleet.store.epochSecret(1, r.kek), 'epoch 1 kept: 2 back from epoch 3');
  await kdc.rotate();
  t.equal(await fleet.store.epochSecret(1, r.kek), undefined, 'epoch 1 destroyed once epoch 4 exists');
  t.ok(await fleet.store.epochSecret(2, r.kek), 'epoch 2 kept');
  t.equal((await fleet.store.readAudit({ subject: '2' })).entries.filter((e) => e.action === 'epoch.secrets-destroyed').length, 1);
  await device.next((g) => g.epoch === 4);
  t.match(await kdc.rotate({ expectedEpoch: 3 }), { outcome: 'lost', epoch: 4 }, 'a request made when epoch 3 was current was answered already');
  t.equal(kdc.currentEpoch()?.epoch, 4);
  t.same(device.refusals, [], 'the device refused nothing');
  const outcomes = Object.fromEntries((await kdc.metrics.rotations.get()).values.map((v) => [v.labels.outcome, v.value]));
  t.match(outcomes, { rotated: 3, lost: 1, 'in-progress': 1 }, 'rotations counted by outcome');
});

t.test('the schedule rotates every rotateEverySeconds, counted from the epoch\'s creation', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const kdc = await startKdc(t, r, { switchAfterSeconds: 0, rotateEverySeconds: 1 });
  await until(() => (kdc.currentEpoch()?.epoch ?? 0) >= 3, 8000, 'two scheduled rotations');
  t.pass(`epoch ${kdc.currentEpoch()?.epoch}`);
});
