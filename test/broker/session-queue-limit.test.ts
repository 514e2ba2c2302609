import mqtt from 'mqtt';
import t from 'tap';
import { deviceTopics } from '../../protocol/topics.js';
import { clientOptions, connect, startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';

// An offline persistent session's queue is bounded on the embedded broker (--max-session-queue):
// the oldest messages are kept, newer ones are counted and not queued, and once the session has
// taken its queue, messages are queued for it again.
const LIMIT = 50;

t.test('a persistent session queues at most --max-session-queue messages while away', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet, { maxSessionQueue: LIMIT });
  const kdcFiles = fleet.service('kdc', '1');
  const away = async () => {
    const session = await connect(t, b, clientOptions(fleet, kdcFiles, 'kdc-1', { clean: false }));
    await session.subscribeAsync(['devices/+/rekey/ack'], { qos: 1 });
    await session.endAsync();
  };
  const resume = async (expected: number): Promise<string[]> => {
    const got: string[] = [];
    const session = mqtt.connect(b.url, clientOptions(fleet, kdcFiles, 'kdc-1', { clean: false }));
    session.on('message', (_topic, payload) => got.push(payload.toString()));
    const deadline = Date.now() + 20_000;
    while (got.length < expected && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    // Anything beyond what is expected would arrive with the queue; give it a moment to show.
    await new Promise((r) => setTimeout(r, 300));
    await session.endAsync();
    return got;
  };
  const device = await connect(t, b, clientOptions(fleet, fleet.device('pub'), 'pub'));
  const publish = async (from: number, count: number) => {
    for (let i = from; i < from + count; i++) await device.publishAsync(deviceTopics.rekeyAck('pub'), Buffer.from(String(i)), { qos: 1 });
  };
  const dropped = async () => (await b.broker.metrics.sessionQueueDrops.get()).values[0]?.value ?? 0;

  await away();
  await publish(0, LIMIT + 70);
  t.equal(await dropped(), 70, 'the 70 messages past the limit were counted as dropped');
  const first = await resume(LIMIT);
  t.same(first, Array.from({ length: LIMIT }, (_, i) => String(i)), 'the session got the oldest 50, in order, and nothing more');

  await publish(LIMIT + 70, 10);
  const second = await resume(10);
  t.same(second, Array.from({ length: 10 }, (_, i) => String(LIMIT + 70 + i)), 'after taking its queue, the session is queued for again');
  t.equal(await dropped(), 70, 'nothing more dropped');
  const queued = (await b.broker.metrics.registry.getSingleMetric('fleetkey_broker_session_queued_messages')?.get())?.values[0]?.value;
  t.equal(queued, 0, 'the queued-messages gauge is back to 0');
});
