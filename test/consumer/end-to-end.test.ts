import t from 'tap';
import { createConsumer, type TelemetryMessage } from '../../consumer/index.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet, testLogger } from '../helpers/fleet.js';
import { enrolledDevice, rig, SimDevice, sleep, startKdc, until } from '../kdc/kit.js';

const DEVICES = 50;
const RATE_HZ = 10;

t.test('broker + KDC + 50 devices at 10 msg/s through two rotations: every message opened exactly once', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const files = fleet.service('consumer', 'e2e');
  const kdc = await startKdc(t, r, { consumerCertificates: [files.cert], switchAfterSeconds: 1, graceSeconds: 30, workers: 1 });
  const opened: TelemetryMessage[] = [];
  const consumer = await createConsumer({ broker: { url: r.broker.url, ca: fleet.caPems, cert: files.cert, key: files.key }, logger: testLogger(), graceSeconds: 30 }, (m) => opened.push(m));
  t.teardown(() => consumer.close());
  const devices = await Promise.all(Array.from({ length: DEVICES }, async (_, i) => SimDevice.connect(t, r, `e2e-${i}`, await enrolledDevice(fleet, `e2e-${i}`))));
  await Promise.all(devices.map((d) => d.next()));

  const sent = new Set<string>();
  let n = 0;
  const timer = setInterval(() => {
    n++;
    for (const d of devices) {
      const text = `${d.id}#${n}`;
      d.seal(text);
      sent.add(text);
    }
  }, 1000 / RATE_HZ);
  t.teardown(() => clearInterval(timer));

  for (const epoch of [2, 3]) {
    await sleep(700);
    const result = await kdc.rotate({ requestedBy: 'test' });
    t.match(result, { outcome: 'rotated', epoch, granted: DEVICES, failed: 0 }, `rotation to epoch ${epoch}`);
    await until(async () => (await kdc.progress(epoch)).acked === DEVICES, 10_000, `acks of epoch ${epoch}`);
    await until(() => devices.every((d) => d.keyring.current()?.epoch === epoch), 5000, `devices on epoch ${epoch}`);
  }
  await sleep(700);
  clearInterval(timer);
  await until(() => opened.length >= sent.size, 10_000, `${sent.size} messages opened (have ${opened.length})`);
  await sleep(200);

  const texts = opened.map((m) => m.payload.toString());
  t.equal(new Set(texts).size, texts.length, 'no message opened twice');
  t.same(new Set(texts), sent, 'every message sent was opened: none lost');
  const stats = consumer.stats();
  t.match(stats, { undecryptable: 0, stale: 0, replay: 0, held: 0 }, 'none undecryptable, stale or replayed');
  t.same([...new Set(opened.map((m) => m.header.epoch))].sort(), [1, 2, 3], 'messages of all three epochs');
  t.same(devices.flatMap((d) => d.refusals), [], 'no device refused a grant');
  t.comment(`${sent.size} messages from ${DEVICES} devices; consumer ${JSON.stringify({ ...stats, grantsRefused: undefined })}`);
});
