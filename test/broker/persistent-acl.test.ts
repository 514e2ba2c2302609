import mqtt from 'mqtt';
import t from 'tap';
import { clientOptions, connect, nextMessage, startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';

// aedes stores a SUBSCRIBE's whole topic list for a persistent session, refused filters included;
// the broker must never let a refused filter come back when the session resumes.
t.test('fail/a refused subscription is not restored with a persistent session', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const files = fleet.device('dev1');
  const first = await connect(t, b, clientOptions(fleet, files, 'dev1', { clean: false }));
  const suback = await first.subscribeAsync(['devices/dev1/rekey', 'devices/dev2/rekey', '#'], { qos: 1 }).then(
    () => undefined,
    (err: { packet?: { granted: number[] } }) => err.packet?.granted,
  );
  t.same(suback, [1, 128, 128]);
  await first.endAsync();

  const resumed = mqtt.connect(b.url, clientOptions(fleet, files, 'dev1', { clean: false }));
  t.teardown(() => resumed.endAsync(true));
  const got: string[] = [];
  resumed.on('message', (topic) => got.push(topic));
  await new Promise<void>((resolve) => resumed.once('connect', () => resolve()));
  const kdc = await connect(t, b, clientOptions(fleet, fleet.service('kdc', 'k'), 'kdc-k'));
  const own = nextMessage(resumed);
  await kdc.publishAsync('devices/dev2/rekey', 'for dev2', { qos: 1 });
  await kdc.publishAsync('devices/dev1/rekey', 'for dev1', { qos: 1 });
  await own;
  await new Promise((r) => setTimeout(r, 200));
  t.same(got, ['devices/dev1/rekey'], 'only the granted subscription survived');
});
