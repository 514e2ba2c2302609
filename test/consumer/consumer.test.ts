import t, { type Test } from 'tap';
import { createConsumer, type TelemetryMessage } from '../../consumer/index.js';
import { deviceTopics } from '../../protocol/topics.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet, testLogger, type ClientFiles } from '../helpers/fleet.js';
import { enrolledDevice, rig, SimDevice, sleep, startKdc, until, type KdcRig } from '../kdc/kit.js';

async function consumer(t: Test, r: KdcRig, files: ClientFiles, extra: { graceSeconds?: number; holdMs?: number } = {}) {
  const messages: TelemetryMessage[] = [];
  const c = await createConsumer({ broker: { url: r.broker.url, ca: r.fleet.caPems, cert: files.cert, key: files.key }, logger: testLogger(), ...extra }, (m) => messages.push(m));
  t.teardown(() => c.close());
  return { c, messages };
}

t.test('opens telemetry; counts duplicates, replays and undecryptable envelopes; never opens one twice', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const files = fleet.service('consumer', 'test');
  await startKdc(t, r, { consumerCertificates: [files.cert] });
  const { c, messages } = await consumer(t, r, files, { holdMs: 200 });
  t.equal(c.clientId, 'consumer-test', 'client id from the certificate CN');
  const device = await SimDevice.connect(t, r, 'dev-c', await enrolledDevice(fleet, 'dev-c'));
  await device.next();

  const envelopes: Buffer[] = [];
  for (let i = 0; i < 200; i++) envelopes.push(device.keyring.sealNext(Buffer.from(`m${i}`)));
  const send = (b: Buffer | string) => device.client.publish(deviceTopics.telemetry('dev-c'), b, { qos: 1 });
  for (const e of envelopes.slice(0, 150)) send(e);
  send(envelopes[149]!); // a QoS 1 redelivery
  send(envelopes[3]!); // below the 128-seq window: a replay
  for (const e of envelopes.slice(150)) send(e);
  send(Buffer.alloc(40, 7)); // garbage
  const forged = Buffer.from(envelopes[0]!);
  forged[forged.length - 1]! ^= 1;
  send(forged); // a flipped tag bit
  await until(() => c.stats().undecryptable >= 2, 5000, 'all counted');
  t.same(messages.map((m) => m.payload.toString()), envelopes.map((_, i) => `m${i}`), 'each message opened once, in order');
  t.match(c.stats(), { opened: 200, duplicate: 1, replay: 1, undecryptable: 2, stale: 0, epochs: [1] });
  t.same(messages[0]!.header, { epoch: 1, grant: 1, seq: 0n });
});

t.test('during the grace period epoch e still opens; after it, e is refused as stale', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const files = fleet.service('consumer', 'grace');
  const kdc = await startKdc(t, r, { consumerCertificates: [files.cert], graceSeconds: 2 });
  const { c, messages } = await consumer(t, r, files, { graceSeconds: 2 });
  const lagging = await SimDevice.connect(t, r, 'dev-lag', await enrolledDevice(fleet, 'dev-lag'));
  await lagging.next();
  await lagging.client.unsubscribeAsync(deviceTopics.rekey('dev-lag')); // it will miss the rotation and keep epoch 1

  const result = await kdc.rotate({ switchAfterSeconds: 1 });
  t.match(result, { outcome: 'rotated', epoch: 2 });
  if (result.outcome !== 'rotated') return;
  await until(() => c.stats().epochs.includes(2), 5000, 'epoch 2 pushed to the consumer');
  const nbf = result.activatesAt.getTime();
  await sleep(Math.max(0, nbf - Date.now()) + 300);
  lagging.seal('in grace');
  await until(() => messages.length === 1, 3000, 'opened in grace');
  t.equal(messages[0]!.header.epoch, 1, 'an epoch 1 envelope after epoch 2\'s nbf, within grace, opens');
  await sleep(Math.max(0, nbf + 2000 - Date.now()) + 300);
  lagging.seal('too late');
  await until(() => c.stats().stale === 1, 3000, 'stale');
  t.equal(messages.length, 1, 'the late one did not open');
  t.same(c.stats().epochs, [2], 'epoch 1 forgotten');
});

t.test('a consumer the KDC does not know (after a KDC restart) holds new-epoch envelopes, asks again, and opens them', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const files = fleet.service('consumer', 'held');
  const first = await startKdc(t, r, { consumerCertificates: [files.cert] });
  const { c, messages } = await consumer(t, r, files, { holdMs: 5000 });
  const device = await SimDevice.connect(t, r, 'dev-h', await enrolledDevice(fleet, 'dev-h'));
  await device.next();
  await first.close();
  const second = await startKdc(t, r, { consumerCertificates: [files.cert], switchAfterSeconds: 0 });
  await second.rotate();
  await device.next((g) => g.epoch === 2);
  await until(() => device.keyring.current()?.epoch === 2, 3000, 'the device switched');
  device.seal('after the restart');
  await until(() => messages.length === 1, 5000, 'opened after asking again');
  t.equal(messages[0]!.header.epoch, 2);
  t.match(c.stats(), { opened: 1, undecryptable: 0, held: 0, epochs: [1, 2] });
});

t.test('fail/ no epoch grant in time', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  await startKdc(t, r); // knows no consumer certificate
  const files = fleet.service('consumer', 'unknown');
  await t.rejects(createConsumer({ broker: { url: r.broker.url, ca: fleet.caPems, cert: files.cert, key: files.key }, logger: testLogger(), grantTimeoutMs: 500 }), { code: 'CONSUMER_NO_EPOCH_GRANT' });
  await t.rejects(createConsumer({ broker: { url: r.broker.url, ca: fleet.caPems, cert: files.cert, key: files.key }, logger: testLogger(), clientId: 'operator-x' }), { code: 'CONFIG_INVALID' });
});
