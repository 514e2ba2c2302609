import type { MqttClient } from 'mqtt';
import t from 'tap';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { faultFleet, tryConnect, until } from './broker-cluster.js';

// Redis SIGKILLed and restarted with its data while devices on two broker processes publish QoS 1 to a
// consumer: no broker exits, no session is dropped, a CONNECT meanwhile gets CONNACK 3 at once, and
// every message a device had acknowledged reaches the consumer.

const SERVER_UNAVAILABLE = 3;

t.test('a Redis crash: brokers stay up, sessions stay, CONNECTs get CONNACK 3 fast, nothing acknowledged is lost', async (t) => {
  const redis = await startRedis(t);
  const fleet = await faultFleet(t);
  const store = await openStore(redis.url);
  t.teardown(() => store.close());
  const [a, b] = await Promise.all([fleet.broker(redis.url), fleet.broker(redis.url)]);

  let dropped = 0;
  const watchDrops = (client: MqttClient): MqttClient => {
    client.on('close', () => (dropped += 1));
    return client;
  };
  const received = new Set<string>();
  const consumer = (await tryConnect(t, b.url, fleet.service('consumer', 'outage'))).client!;
  consumer.on('message', (_topic, payload) => received.add(payload.toString()));
  await consumer.subscribeAsync('devices/+/telemetry', { qos: 1 });
  watchDrops(consumer);

  const devices: MqttClient[] = [];
  for (let i = 0; i < 8; i++) {
    const id = `dev-o${i}`;
    const client = (await tryConnect(t, (i % 2 === 0 ? a : b).url, await fleet.device(store, id))).client!;
    devices.push(watchDrops(client));
  }
  const latecomers = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => fleet.device(store, `dev-late${i}`)));

  const acked = new Set<string>();
  let sending = true;
  const publishers = devices.map(async (client, i) => {
    for (let n = 0; sending; n++) {
      const payload = `dev-o${i}:${n}`;
      await client.publishAsync(`devices/dev-o${i}/telemetry`, payload, { qos: 1 });
      acked.add(payload);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  });
  await until(() => received.size >= 40, 20_000, 'traffic before the outage');

  await redis.crash();
  const ackedBefore = acked.size;
  const refusals: { code: number; ms: number }[] = [];
  for (const [i, opts] of latecomers.entries()) {
    const attempt = await tryConnect(t, (i % 2 === 0 ? a : b).url, opts);
    attempt.client?.end(true);
    refusals.push({ code: attempt.code, ms: attempt.ms });
  }
  await until(() => acked.size >= ackedBefore + 40, 20_000, 'devices to keep publishing during the outage');
  await redis.restart();

  const back = latecomers[0]!;
  await until(async () => {
    const attempt = await tryConnect(t, a.url, back);
    attempt.client?.end(true);
    return attempt.code === 0;
  }, 30_000, 'a CONNECT admitted after Redis is back');
  let onB = { code: -1 };
  await until(async () => {
    const attempt = await tryConnect(t, b.url, latecomers[1]!);
    onB = attempt;
    return attempt.code === 0;
  }, 30_000, 'a CONNECT admitted by B too');
  const ackedAfter = acked.size;
  await until(() => acked.size >= ackedAfter + 40, 20_000, 'traffic after the outage');
  sending = false;
  await Promise.all(publishers);
  await until(() => [...acked].every((p) => received.has(p)), 20_000, 'every acknowledged message to arrive').catch(() => undefined);
  const lost = [...acked].filter((p) => !received.has(p));

  t.equal(a.exitedCount() + b.exitedCount(), 0, 'broker processes exited: 0');
  t.equal(dropped, 0, 'sessions dropped by the outage: 0');
  t.equal(refusals.filter((r) => r.code === 0).length, 0, 'CONNECTs admitted during the outage: 0');
  t.same(refusals.map((r) => r.code), refusals.map(() => SERVER_UNAVAILABLE), `every CONNECT during the outage got CONNACK 3 (${refusals.length})`);
  t.ok(refusals.every((r) => r.ms < 1000), `each within 1 s (slowest ${Math.max(...refusals.map((r) => r.ms))} ms)`);
  t.equal(onB.code, 0, 'broker B admits again too, without a restart');
  t.equal(lost.length, 0, `acknowledged but never delivered: ${lost.length} of ${acked.size} (${acked.size - ackedBefore} acknowledged from the outage on)`);
  t.ok(a.logs.some((l) => l.event === 'connect-refused' && l.reason === 'store-unavailable'), 'the refusal is logged as connect-refused / store-unavailable');
  // Held messages go out only once both brokers' bus subscribers, patterns included, are back.
  const resumed = [a, b].map((broker) => broker.logs.find((l) => l.event === 'cluster-bus-resumed'));
  t.same(resumed.map((l) => l?.subscribers), [2, 2], 'each broker sent what it held with both subscribers counted back');
});
