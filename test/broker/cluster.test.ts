import mqtt from 'mqtt';
import { Redis } from 'ioredis';
import t from 'tap';
import { redisClusterBackends } from '../../broker/cluster.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { clientOptions, closedWithin, connect, nextMessage, rekeyTopicsAfterResume, startBroker, subackCodes, type RunningBroker } from '../helpers/broker.js';
import { testFleet, type TestFleet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';

// Two brokers on one Redis, each with its own store connection and its own message-bus connections,
// as two processes would have.
async function node(t: Parameters<typeof testFleet>[0], fleet: TestFleet, url: string, prefix: string): Promise<RunningBroker> {
  const store = await openStore(url, { prefix });
  t.teardown(() => store.close());
  const cluster = await redisClusterBackends(url, prefix);
  t.teardown(() => cluster.destroy());
  return startBroker(t, fleet, { store, cluster });
}

/** A device registered in `store` with the certificate `fleet` made for it, as enrollment leaves it. */
async function recordedDevice(store: Store, fleet: TestFleet, id: string) {
  const files = fleet.device(id);
  await store.registerDevices([{ id, token: 't'.repeat(32), tokenExpiresAt: new Date(Date.now() + 3600_000) }], 'test');
  const spki = files.issued.x509.publicKey.export({ type: 'spki', format: 'der' });
  await store.recordCertificate({ serial: files.issued.serial, subject: id, spki, notBefore: files.issued.notBefore, notAfter: files.issued.notAfter, fingerprint: files.issued.fingerprint, issuedAt: new Date() });
  return files;
}

t.test('two brokers on one Redis are one broker', async (t) => {
  const redis = await startRedis(t);
  const fleet = await testFleet(t);
  const prefix = `fk${process.pid}:`;
  const a = await node(t, fleet, redis.url, prefix);
  const b = await node(t, fleet, redis.url, prefix);

  await t.test('a message published on A reaches a subscriber on B', async (t) => {
    const consumer = await connect(t, b, clientOptions(fleet, fleet.service('consumer', 'b'), 'consumer-b'));
    await consumer.subscribeAsync('devices/+/telemetry', { qos: 1 });
    const dev = await connect(t, a, clientOptions(fleet, fleet.device('dev-a'), 'dev-a'));
    const received = nextMessage(consumer);
    await dev.publishAsync('devices/dev-a/telemetry', 'across', { qos: 1 });
    const [topic, payload] = await received;
    t.equal(topic, 'devices/dev-a/telemetry');
    t.equal(payload.toString(), 'across');
  });

  await t.test('revoking through A\'s store closes a session on B within 1 s', async (t) => {
    const storeA = await openStore(redis.url, { prefix });
    t.teardown(() => storeA.close());
    const files = await recordedDevice(storeA, fleet, 'dev-r');
    const live = await connect(t, b, clientOptions(fleet, files, 'dev-r'));
    await storeA.revokeDevice('dev-r', 'keyCompromise', 'test');
    const ms = await closedWithin(live, 1000);
    t.ok(ms < 1000, `closed on B ${ms} ms after the revocation on A`);
    await t.rejects(connect(t, a, clientOptions(fleet, files, 'dev-r')), { code: 5 }, 'and A refuses it too');
  });

  await t.test('a QoS 1 persistent session resumes on the other node with its queued messages', async (t) => {
    const files = fleet.device('dev-p');
    const persistent = { clean: false };
    const first = await connect(t, a, clientOptions(fleet, files, 'dev-p', persistent));
    await first.subscribeAsync('devices/dev-p/cmd/#', { qos: 1 });
    await first.endAsync();
    const operator = await connect(t, b, clientOptions(fleet, fleet.service('operator', 'o'), 'operator-o'));
    await operator.publishAsync('devices/dev-p/cmd/reboot', 'now', { qos: 1 });
    // Queued messages arrive right after CONNACK: listen before connecting.
    const resumed = mqtt.connect(b.url, clientOptions(fleet, files, 'dev-p', persistent));
    t.teardown(() => resumed.endAsync(true));
    const received = nextMessage(resumed);
    const [topic, payload] = await received;
    t.equal(topic, 'devices/dev-p/cmd/reboot');
    t.equal(payload.toString(), 'now');
  });
});

t.test('persistent sessions on a cluster: several topics in one SUBSCRIBE, refused filters not restored', async (t) => {
  const redis = await startRedis(t);
  const fleet = await testFleet(t);
  const prefix = `fk${process.pid}p:`;
  const a = await node(t, fleet, redis.url, prefix);
  const b = await node(t, fleet, redis.url, prefix);
  const files = fleet.device('dev1');
  const first = await connect(t, a, clientOptions(fleet, files, 'dev1', { clean: false }));
  const granted = await first.subscribeAsync(['devices/dev1/rekey', 'devices/dev1/cmd/#'], { qos: 1 });
  t.same(granted.map((g) => g.qos), [1, 1], 'two topics in one SUBSCRIBE get their SUBACK');
  t.same(await subackCodes(first, ['devices/dev1/cmd/x', 'devices/dev2/rekey']), [1, 128]);
  await first.endAsync();
  t.same(await rekeyTopicsAfterResume(t, fleet, files, b, a), ['devices/dev1/rekey'], 'the refused filter did not come back on the other node');
});

t.test('a revocation sent while a broker\'s event feed is cut still closes its session once the feed is back', async (t) => {
  const redis = await startRedis(t);
  const fleet = await testFleet(t);
  const prefix = `fk${process.pid}g:`;
  const storeB = await openStore(redis.url, { prefix });
  t.teardown(() => storeB.close());
  const b = await startBroker(t, fleet, { store: storeB });
  const storeA = await openStore(redis.url, { prefix });
  t.teardown(() => storeA.close());
  const files = await recordedDevice(storeA, fleet, 'dev-g');
  const live = await connect(t, b, clientOptions(fleet, files, 'dev-g'));

  const heardByB: string[] = [];
  storeB.on('device-changed', (e) => heardByB.push(`${e.deviceId} ${e.status}`));
  const resumed = new Promise<void>((resolve) => storeB.on('events-resumed', () => resolve()));
  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  // Every subscriber connection drops; the first reconnect waits 100 ms or more, the revocation takes a few.
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  await storeA.revokeDevice('dev-g', 'keyCompromise', 'test');
  await resumed;
  await closedWithin(live, 3000);
  t.notOk(heardByB.includes('dev-g revoked'), 'B never heard the revocation event: its session was closed by the reload');
  await t.rejects(connect(t, b, clientOptions(fleet, files, 'dev-g')), { code: 5 }, 'and refuses it from then on');
});
