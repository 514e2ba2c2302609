import mqtt from 'mqtt';
import t, { type Test } from 'tap';
import { redisClusterBackends } from '../../broker/cluster.js';
import { deviceTopics } from '../../protocol/topics.js';
import { openStore } from '../../store/index.js';
import { clientOptions, connect, startBroker, type RunningBroker } from '../helpers/broker.js';
import { testFleet, type TestFleet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';

// What a subscriber misses when messages overtake each other inside the broker: QoS 0 presence events
// skip the offline enqueue that QoS 1 messages wait for (broker/delivery-dedupe.ts), and a resumed
// session's queue is sent while live messages arrive (broker/session-queue.ts).

const ACKS = 400;

/** A persistent subscriber of acks and presence, a device publishing acks, devices connecting meanwhile. */
async function interleaved(t: Test, fleet: TestFleet, b: RunningBroker): Promise<void> {
  const kdc = await connect(t, b, clientOptions(fleet, fleet.service('kdc', '1'), 'kdc-1', { clean: false }));
  await kdc.subscribeAsync(['devices/+/rekey/ack', '$SYS/+/new/clients', '$SYS/+/disconnect/clients'], { qos: 1 });
  let acks = 0;
  let presence = 0;
  kdc.on('message', (topic) => (topic.startsWith('$SYS') ? presence++ : acks++));

  const publisher = await connect(t, b, clientOptions(fleet, fleet.device('pub'), 'pub'));
  let churning = true;
  let churned = 0;
  const churnLoop = Promise.all(Array.from({ length: 8 }, async (_, n) => {
    const files = fleet.device(`churn${n}`);
    while (churning) {
      const c = await mqtt.connectAsync(b.url, clientOptions(fleet, files, `churn${n}`), false);
      await c.endAsync(true);
      churned++;
    }
  }));
  for (let i = 0; i < ACKS; i += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, j) => publisher.publishAsync(deviceTopics.rekeyAck('pub'), Buffer.from(String(i + j)), { qos: 1 })));
  }
  churning = false;
  await churnLoop;
  const deadline = Date.now() + 20_000;
  while (acks < ACKS && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.ok(churned > 0 && presence > 0, `presence events interleaved (${churned} connects, ${presence} events)`);
  t.equal(acks, ACKS, `every acknowledged QoS 1 message reached the subscriber (${acks})`);
}

t.test('a persistent subscriber gets every QoS 1 message while QoS 0 presence events interleave', async (t) => {
  const fleet = await testFleet(t);
  await interleaved(t, fleet, await startBroker(t, fleet));
});

t.test('the same on a broker whose sessions and bus are on Redis', async (t) => {
  const redis = await startRedis(t);
  const fleet = await testFleet(t);
  const prefix = `fk${process.pid}:`;
  const store = await openStore(redis.url, { prefix });
  t.teardown(() => store.close());
  const cluster = await redisClusterBackends(redis.url, prefix);
  t.teardown(() => cluster.destroy());
  await interleaved(t, fleet, await startBroker(t, fleet, { store, cluster }));
});

t.test('a resumed session gets its queued messages and the live ones, none missing', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const kdcFiles = fleet.service('kdc', '1');
  const first = await connect(t, b, clientOptions(fleet, kdcFiles, 'kdc-1', { clean: false }));
  await first.subscribeAsync(['devices/+/rekey/ack'], { qos: 1 });
  await first.endAsync();

  const publisher = await connect(t, b, clientOptions(fleet, fleet.device('pub'), 'pub'));
  let sent = 0;
  const publish = async (n: number) => {
    for (let i = 0; i < n; i++) await publisher.publishAsync(deviceTopics.rekeyAck('pub'), Buffer.from(String(sent++)), { qos: 1 });
  };
  await publish(ACKS / 2);
  const seen = new Set<string>();
  const resumed = mqtt.connect(b.url, clientOptions(fleet, kdcFiles, 'kdc-1', { clean: false }));
  t.teardown(() => resumed.endAsync(true));
  resumed.on('message', (_topic, payload) => seen.add(payload.toString()));
  // Live messages while the queue is being sent.
  await publish(ACKS / 2);
  const deadline = Date.now() + 20_000;
  while (seen.size < sent && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  t.equal(sent, ACKS);
  const missing = Array.from({ length: ACKS }, (_, i) => String(i)).filter((i) => !seen.has(i));
  t.comment(`missing ${missing.length}: ${missing.slice(0, 10).join(',')} … ${missing.slice(-5).join(',')}`);
  t.equal(seen.size, ACKS, `every message, queued or live, reached the resumed session (${seen.size})`);
});
