import t from 'tap';
import { openedReadings, sealedReadings, simStack, until } from './stack.js';

const DEVICES = 20;

t.test('20 devices enroll over EST, connect, get keys, send through a rotation: the consumer opens every message', async (t) => {
  const stack = await simStack(t);
  const ids = Array.from({ length: DEVICES }, (_, i) => `sim-${String(i).padStart(2, '0')}`);
  const sim = stack.fleet(await stack.register(ids), { rate: 4 });
  sim.start();
  t.ok(await sim.ready(30_000), 'every device connected with a key');
  const progress = sim.progress();
  t.match(progress, { devices: DEVICES, enrolled: DEVICES, connected: DEVICES, keyed: DEVICES, failed: 0 }, 'stages');

  await new Promise((resolve) => setTimeout(resolve, 1000));
  const rotation = await stack.kdc.rotate({ requestedBy: 'test' });
  t.match(rotation, { outcome: 'rotated', epoch: 2, granted: DEVICES }, 'rotation to epoch 2 granted to every device');
  await until(() => sim.devices.every((d) => d.keyring.current()?.epoch === 2), 15_000, 'devices switched to epoch 2');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const report = await sim.stop();

  const sealed = sealedReadings(stack.events);
  await until(() => stack.opened.length >= sealed.length, 10_000, `${sealed.length} messages opened (have ${stack.opened.length})`);
  const opened = openedReadings(stack.opened);
  t.equal(new Set(opened).size, opened.length, 'no message opened twice');
  t.same(new Set(opened), new Set(sealed), 'every sealed reading was opened');
  t.match(stack.consumer.stats(), { undecryptable: 0, replay: 0, stale: 0 }, 'consumer: nothing undecryptable, replayed or stale');
  t.same([...new Set(stack.opened.map((m) => m.header.epoch))].sort(), [1, 2], 'messages of both epochs');

  t.equal(report.devices, DEVICES);
  t.same(report.failed, {}, 'no device ended in error');
  t.equal(report.messages.sent, sealed.length, 'every sealed message acknowledged by the broker');
  t.equal(report.grants.rotationsAcked, DEVICES, 'every device acked the rotation');
  t.equal(report.grants.keySwitches, DEVICES, 'every device switched keys once, at nbf');
  t.equal(report.latencyMs.enroll.n, DEVICES, 'an enroll latency per device');
  t.equal(report.latencyMs.connect.n, DEVICES, 'a connect latency per device');
  t.ok(report.latencyMs.connect.p50 > 0 && report.latencyMs.connect.p99 >= report.latencyMs.connect.p50, 'percentiles ordered');
  await until(async () => (await stack.kdc.progress(2)).acked === DEVICES, 5000, 'acks recorded by the KDC');
  t.comment(JSON.stringify({ sent: report.messages.sent, latencyMs: report.latencyMs, memory: report.memory }));
});
