import t from 'tap';
import { startBroker, clientOptions, connect, closedWithin, nextMessage, subackCodes } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';

t.test('ok/own telemetry reaches a consumer; another device\'s topic does not', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const consumer = await connect(t, b, clientOptions(fleet, fleet.service('consumer', 'dash'), 'consumer-dash'));
  await consumer.subscribeAsync('devices/+/telemetry', { qos: 1 });
  const dev1 = await connect(t, b, clientOptions(fleet, fleet.device('dev1'), 'dev1'));
  const received = nextMessage(consumer);
  await dev1.publishAsync('devices/dev1/telemetry', Buffer.from('hello'), { qos: 1 });
  const [topic, payload] = await received;
  t.equal(topic, 'devices/dev1/telemetry');
  t.equal(payload.toString(), 'hello');

  consumer.on('message', (topic) => t.fail(`a refused publish reached a subscriber: ${topic}`));
  dev1.publish('devices/dev2/telemetry', 'spoofed', { qos: 0 });
  await closedWithin(dev1, 1000);
  t.pass('publishing on another device\'s topic closes the connection');
});

t.test('fail/subscriptions outside the own subtree get SUBACK 0x80', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev1 = await connect(t, b, clientOptions(fleet, fleet.device('dev1'), 'dev1'));
  const filters = ['devices/dev1/rekey', 'devices/dev1/cmd/#', '#', '$SYS/#', 'devices/+/rekey', 'devices/dev2/rekey', 'devices/dev1/telemetry'];
  const suback = await subackCodes(dev1, filters);
  t.same(suback, [1, 1, 128, 128, 128, 128, 128]);
  t.ok(dev1.connected, 'a refused subscription does not end the session');
});

t.test('fail/a will on another device\'s topic is refused at CONNECT', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev = fleet.device('dev1');
  const will = { topic: 'devices/dev2/telemetry', payload: Buffer.from('gone'), qos: 0 as const, retain: false };
  await t.rejects(connect(t, b, clientOptions(fleet, dev, 'dev1', { will })), { code: 5 });
  const rekeyWill = { topic: 'devices/dev1/rekey', payload: Buffer.from('x'), qos: 0 as const, retain: false };
  await t.rejects(connect(t, b, clientOptions(fleet, dev, 'dev1', { will: rekeyWill })), { code: 5 });
  const ownWill = { topic: 'devices/dev1/telemetry', payload: Buffer.from('gone'), qos: 0 as const, retain: false };
  t.ok(await connect(t, b, clientOptions(fleet, dev, 'dev1', { will: ownWill })), 'a will on its own telemetry is fine');
});

t.test('fail/a retained publish to a rekey topic is refused, even from the KDC', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const kdc = await connect(t, b, clientOptions(fleet, fleet.service('kdc', '1'), 'kdc-1'));
  kdc.publish('devices/dev1/rekey', 'grant', { qos: 0, retain: true });
  await closedWithin(kdc, 1000);
  const dev1 = await connect(t, b, clientOptions(fleet, fleet.device('dev1'), 'dev1'));
  const got: string[] = [];
  dev1.on('message', (topic) => got.push(topic));
  await dev1.subscribeAsync('devices/dev1/rekey', { qos: 1 });
  await new Promise((r) => setTimeout(r, 200));
  t.same(got, [], 'no retained grant was stored');
  dev1.publish('devices/dev1/rekey', 'x', { qos: 0 });
  await closedWithin(dev1, 1000);
  t.pass('a device may not publish on its own rekey topic');
});

t.test('fail/a packet over the size limit closes the connection before it is buffered', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet, { maxPacketBytes: 1024 });
  const dev1 = await connect(t, b, clientOptions(fleet, fleet.device('dev1'), 'dev1'));
  dev1.publish('devices/dev1/telemetry', Buffer.alloc(4096), { qos: 0 });
  await closedWithin(dev1, 1000);
  const refusals = await b.broker.metrics.refusals.get();
  t.equal(refusals.values.find((v) => v.labels.reason === 'packet-size')?.value, 1);
});

t.test('revocation: refused at CONNECT and a live session closed within 1 s', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const files = fleet.device('dev1');
  await fleet.store.registerDevices([{ id: 'dev1', token: 'x'.repeat(32), tokenExpiresAt: new Date(Date.now() + 3600_000) }], 'test');
  await fleet.record('dev1', files);
  const other = await connect(t, b, clientOptions(fleet, fleet.device('dev2'), 'dev2'));
  const live = await connect(t, b, clientOptions(fleet, files, 'dev1'));
  await fleet.store.revokeDevice('dev1', 'keyCompromise', 'test');
  const ms = await closedWithin(live, 1000);
  t.ok(ms < 1000, `closed after ${ms} ms`);
  t.ok(other.connected, 'other devices stay connected');
  await t.rejects(connect(t, b, clientOptions(fleet, files, 'dev1')), { code: 5 }, 'the revoked certificate cannot reconnect');
  await t.rejects(connect(t, b, clientOptions(fleet, fleet.device('dev1'), 'dev1')), { code: 5 }, 'nor can a revoked device with another certificate');
  const kicks = await b.broker.metrics.kicks.get();
  t.equal(kicks.values.find((v) => v.labels.reason === 'revoked')?.value, 1);
});
