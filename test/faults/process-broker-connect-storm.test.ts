import { join } from 'node:path';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import t from 'tap';
import { openStore } from '../../store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { metricValue } from '../broker/scrape.js';
import { faultFleet, until } from './broker-cluster.js';

const STORM = 300;
const WAITING = 150;

/** One CONNECT attempt: the client, or undefined when the broker closed the connection before TLS. */
async function attempt(url: string, opts: IClientOptions): Promise<MqttClient | undefined> {
  try {
    return await mqtt.connectAsync(url, { ...opts, connectTimeout: 60_000 }, false);
  } catch {
    return undefined;
  }
}

t.test('a reconnect storm is admitted at a bounded rate while a connected device keeps sending', async (tt) => {
  const fleet = await faultFleet(tt);
  const storeDir = join(tempDir(tt), 'store');
  const setupStore = await openStore(`file:${storeDir}`);
  const device = await fleet.device(setupStore, 'dev-live');
  await setupStore.close();
  const broker = await fleet.broker(`file:${storeDir}`, [
    '--metrics-port', '0', '--max-connect-rate', '50', '--max-handshakes', '8', '--max-waiting-connects', String(WAITING),
  ]);
  const metricsUrl = String(broker.logs.find((l) => l.service === 'broker')?.metrics);

  const consumer = await mqtt.connectAsync(broker.url, fleet.service('consumer', 'live'), false);
  tt.teardown(() => consumer.endAsync(true));
  let liveReceived = 0;
  consumer.on('message', () => liveReceived++);
  await consumer.subscribeAsync('devices/+/telemetry', { qos: 1 });
  const live = await mqtt.connectAsync(broker.url, device, false);
  tt.teardown(() => live.endAsync(true));

  const identities = Array.from({ length: STORM }, (_, i) => fleet.service('consumer', `storm${i}`));
  const clients: MqttClient[] = [];
  tt.teardown(() => Promise.all(clients.map((c) => c.endAsync(true))));
  let stormDone = false;
  let liveSent = 0;
  let sentDuringStorm = 0;
  const liveLoop = (async () => {
    while (!stormDone) {
      await live.publishAsync('devices/dev-live/telemetry', Buffer.from(String(liveSent)), { qos: 1 });
      liveSent++;
      if (!stormDone) sentDuringStorm++;
    }
  })();

  // Every device at once; a device the broker turned away comes back (as its backoff would bring it).
  let pending = identities;
  let refused = 0;
  let firstRoundRefused = -1;
  while (pending.length > 0) {
    const results = await Promise.all(pending.map((opts) => attempt(broker.url, opts)));
    const next: IClientOptions[] = [];
    results.forEach((client, i) => (client ? clients.push(client) : next.push(pending[i]!)));
    if (firstRoundRefused < 0) firstRoundRefused = next.length;
    refused += next.length;
    pending = next;
  }
  stormDone = true;
  await liveLoop;
  await until(() => liveReceived === liveSent, 30_000, 'the consumer to have every live message');

  tt.equal(clients.length, STORM, `all ${STORM} storm clients admitted in the end`);
  tt.ok(firstRoundRefused > 0, `with ${WAITING} allowed to wait, ${firstRoundRefused} of ${STORM} were turned away at once`);
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_refusals_total{reason="admission-queue-full"}'), refused, `every refusal counted (${refused})`);
  tt.equal(broker.logs.filter((l) => l.event === 'connect-refused' && l.reason === 'admission-queue-full').length, refused, 'and logged');
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_connects_admitted_total'), STORM + 2, 'each admitted connection started TLS once');
  tt.ok(sentDuringStorm >= 10, `the connected device kept publishing during the storm (${sentDuringStorm} QoS 1 round trips)`);
  tt.equal(liveReceived, liveSent, `its consumer received all ${liveSent}`);
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_connects_waiting'), 0, 'nobody left waiting');
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_handshakes_in_progress'), 0, 'no handshake slot leaked');
});
