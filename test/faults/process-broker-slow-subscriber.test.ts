import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import t, { type Test } from 'tap';
import { openStore } from '../../store/index.js';
import { startMosquittoSub } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';
import { faultFleet, until, type BrokerProcess } from './broker-cluster.js';
import { metricValue } from '../broker/scrape.js';

const MESSAGES = 100_000;
const PAYLOAD = Buffer.alloc(512, 0x61);
const TOPIC = 'devices/dev-pub/telemetry';

function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)/.exec(line ?? '')?.[1]);
}

/** mosquitto_sub, in its own process, as a consumer service: the subscriber that will be SIGSTOPped. */
async function stuckConsumer(tt: Test, dir: string, opts: IClientOptions, url: string) {
  const files = { ca: join(dir, `${String(opts.clientId)}-ca.pem`), cert: join(dir, `${String(opts.clientId)}.pem`), key: join(dir, `${String(opts.clientId)}.key`) };
  writeFileSync(files.ca, (opts.ca as string[]).join(''));
  writeFileSync(files.cert, String(opts.cert));
  writeFileSync(files.key, String(opts.key), { mode: 0o600 });
  const port = new URL(url).port;
  const sub = startMosquittoSub(tt, ['-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-i', String(opts.clientId), '--cafile', files.ca,
    '--cert', files.cert, '--key', files.key, '-k', '600', '-q', '1', '-t', 'devices/+/telemetry']);
  await sub.ready;
  return sub;
}

/** Publishes `count` QoS 1 messages, at most `window` awaiting PUBACK. */
async function publish(client: MqttClient, count: number, window = 200): Promise<void> {
  let sent = 0;
  const inflight = new Set<Promise<unknown>>();
  while (sent < count) {
    while (inflight.size < window && sent < count) {
      const p = client.publishAsync(TOPIC, PAYLOAD, { qos: 1 });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      sent++;
    }
    await Promise.race(inflight);
  }
  await Promise.all(inflight);
}

function dropped(broker: BrokerProcess, clientId: string) {
  return broker.logs.filter((l) => l.event === 'slow-client-dropped' && l.clientId === clientId);
}

t.test('a SIGSTOPped subscriber is dropped, the broker stays bounded, the others get every message', async (tt) => {
  const fleet = await faultFleet(tt);
  const storeDir = join(tempDir(tt), 'store');
  const setupStore = await openStore(`file:${storeDir}`);
  const device = await fleet.device(setupStore, 'dev-pub');
  await setupStore.close();
  const broker = await fleet.broker(`file:${storeDir}`, ['--metrics-port', '0', '--drain-timeout', '2', '--max-queued-bytes', String(4 * 1024 * 1024)]);
  const metricsUrl = String(broker.logs.find((l) => l.service === 'broker')?.metrics);

  const fast = await mqtt.connectAsync(broker.url, fleet.service('consumer', 'fast'), false);
  tt.teardown(() => fast.endAsync(true));
  let received = 0;
  fast.on('message', () => received++);
  await fast.subscribeAsync('devices/+/telemetry', { qos: 1 });
  const publisher = await mqtt.connectAsync(broker.url, device, false);
  tt.teardown(() => publisher.endAsync(true));

  // 1. Drain timeout: the stopped subscriber's socket fills, then nothing more is sent to it.
  const stuck1 = await stuckConsumer(tt, tempDir(tt), fleet.service('consumer', 'stuck1'), broker.url);
  process.kill(stuck1.child.pid!, 'SIGSTOP');
  let sent = 0;
  for (;;) {
    await publish(publisher, 500);
    sent += 500;
    await until(() => received === sent, 30_000, `the running subscriber to have ${sent} messages`);
    if (await metricValue(metricsUrl, 'fleetkey_broker_outbound_buffered_bytes') > 0) break;
    if (sent >= 40_000) throw new Error('the stopped subscriber never filled its socket');
  }
  // Well under the queue limits (4 MiB, 10,000 packets): only the drain timeout can drop it now.
  await until(() => dropped(broker, 'consumer-stuck1').length > 0, 30_000, 'the stopped subscriber to be dropped');
  const [first] = dropped(broker, 'consumer-stuck1');
  tt.equal(first?.reason, 'drain-timeout', 'dropped because its socket did not drain');
  tt.ok(Number(first?.queuedBytes) > 0, `the log line says what it held (${String(first?.queuedBytes)} bytes, ${String(first?.queuedMessages)} packets)`);
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_kicks_total{reason="drain-timeout"}'), 1, 'counted once');

  // 2. Volume: 100,000 messages while another subscriber is stopped.
  const stuck2 = await stuckConsumer(tt, tempDir(tt), fleet.service('consumer', 'stuck2'), broker.url);
  process.kill(stuck2.child.pid!, 'SIGSTOP');
  const baseKiB = rssKiB(broker.pid, 'VmRSS');
  received = 0;
  await publish(publisher, MESSAGES);
  await until(() => received === MESSAGES, 60_000, 'the running subscriber to have every message');
  await until(() => dropped(broker, 'consumer-stuck2').length > 0, 30_000, 'the second stopped subscriber to be dropped');
  const peakKiB = rssKiB(broker.pid, 'VmHWM');
  const growthMiB = (peakKiB - baseKiB) / 1024;
  tt.equal(received, MESSAGES, `the running subscriber received all ${MESSAGES} messages`);
  tt.equal(dropped(broker, 'consumer-stuck2').length, 1, `the stopped one was dropped once (${String(dropped(broker, 'consumer-stuck2')[0]?.reason)})`);
  const kicks = await metricValue(metricsUrl, 'fleetkey_broker_kicks_total{reason="drain-timeout"}')
    + await metricValue(metricsUrl, 'fleetkey_broker_kicks_total{reason="outbound-limit"}');
  tt.equal(kicks, 2, 'both drops counted');
  // Unbounded, the stopped subscriber alone would hold the 100,000 × 512 B payloads (49 MiB) plus a
  // buffered chunk record per write: well over 100 MiB.
  tt.ok(growthMiB < 48, `broker RSS peak grew by ${growthMiB.toFixed(1)} MiB over ${(baseKiB / 1024).toFixed(1)} MiB`);
  tt.equal(broker.exitedCount(), 0, 'the broker never exited');
  process.kill(stuck1.child.pid!, 'SIGCONT');
  process.kill(stuck2.child.pid!, 'SIGCONT');
});
