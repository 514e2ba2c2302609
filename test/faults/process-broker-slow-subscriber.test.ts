import t from 'tap';
import { metricValue } from '../broker/scrape.js';
import { dropped, rssKiB, setUp } from '../broker/slow-subscriber-stack.js';
import { faultFleet, tryConnect } from './broker-cluster.js';

const MESSAGES = 100_000;

t.test('a SIGSTOPped subscriber is dropped at its queue limit, the broker stays bounded, the others get every message', async (tt) => {
  const fleet = await faultFleet(tt);
  // The drain timeout cannot fire here: only the queue limit (4,000 packets) ends the stopped subscriber.
  const { broker, metricsUrl, counts, fast, round, fill, stopped } = await setUp(tt, fleet, ['--drain-timeout', '600', '--max-queued-messages', '4000', '--max-buffered-bytes', '1']);
  const readyz = metricsUrl.replace(/\/metrics$/, '/readyz');
  await stopped('stuck');
  const baseKiB = rssKiB(broker.pid, 'VmRSS');
  await fill();

  // Over the total cap (1 byte here): new CONNECTs get CONNACK 3 and /readyz says why.
  tt.equal((await tryConnect(tt, broker.url, fleet.service('consumer', 'late'))).code, 3, 'CONNACK 3 while the broker is over its buffered-bytes cap');
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_refusals_total{reason="overloaded"}'), 1, 'refusal counted as overloaded');
  tt.equal((await fetch(readyz)).status, 503, '/readyz is 503 while overloaded');

  // No head-of-line blocking: rounds reach the running consumer while the stopped one is still connected.
  let roundsPastStuck = 0;
  while (dropped(broker, 'consumer-stuck').length === 0) {
    await round(500);
    roundsPastStuck++;
  }
  tt.ok(roundsPastStuck >= 2, `${roundsPastStuck} rounds of 500 reached the running consumer while the stopped one held its backlog`);
  const [drop] = dropped(broker, 'consumer-stuck');
  tt.equal(drop?.reason, 'outbound-limit', `dropped at its queue limit (${String(drop?.queuedMessages)} packets, ${String(drop?.queuedBytes)} bytes queued)`);
  tt.equal(await metricValue(metricsUrl, 'fleetkey_broker_kicks_total{reason="outbound-limit"}'), 1, 'counted once');

  await round(MESSAGES);
  const growthMiB = (rssKiB(broker.pid, 'VmHWM') - baseKiB) / 1024;
  tt.equal(fast.count(), counts.sent, `the running subscriber received all ${counts.sent} messages (${MESSAGES} after the drop)`);
  // Unbounded, the stopped subscriber alone would hold the 100,000 × 512 B payloads (49 MiB) plus a
  // buffered-chunk record per write.
  tt.ok(growthMiB < 40, `broker RSS peak grew by ${growthMiB.toFixed(1)} MiB over ${(baseKiB / 1024).toFixed(1)} MiB`);
  tt.equal((await tryConnect(tt, broker.url, fleet.service('consumer', 'later'))).code, 0, 'admitted again once the backlog is gone');
  tt.equal((await fetch(readyz)).status, 200, '/readyz is 200 again');
  tt.equal(broker.exitedCount(), 0, 'the broker never exited');
});
