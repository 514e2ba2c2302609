import t from 'tap';
import { metricValue } from '../broker/scrape.js';
import { dropped, setUp } from '../broker/slow-subscriber-stack.js';
import { faultFleet, until } from './broker-cluster.js';

t.test('a SIGSTOPped subscriber with a small backlog is dropped after the drain timeout', async (tt) => {
  const fleet = await faultFleet(tt);
  const { broker, metricsUrl, fill, stopped } = await setUp(tt, fleet, ['--drain-timeout', '2']);
  await stopped('stuck');
  await fill();
  // Nothing more is published: far under the queue limits (16 MiB, 10,000 packets), only the timeout can drop it.
  await until(() => dropped(broker, 'consumer-stuck').length > 0, 30_000, 'the stopped subscriber to be dropped');
  const [drop] = dropped(broker, 'consumer-stuck');
  tt.equal(drop?.reason, 'drain-timeout', 'dropped because its socket did not drain');
  tt.ok(Number(drop?.queuedBytes) > 0, `the log line says what it held (${String(drop?.queuedBytes)} bytes, ${String(drop?.queuedMessages)} packets)`);
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_kicks_total{reason="drain-timeout"}'), 1, 'counted once');
});
