import t from 'tap';
import { quickSoak } from './soak-run.js';

// `bench:soak --quick --cluster`: two `fleetkey broker` processes on one Redis, 100 devices on QoS 1
// telemetry, both brokers SIGKILLed and started again, a rotation requested in the reconnect storm,
// a consumer with a persistent session. Sessions and their queues live in Redis, so nothing the
// brokers acknowledged is lost: every message sent is opened.
const DEVICES = 100;

t.test('bench:soak --quick --cluster: both brokers SIGKILLed, a rotation in the storm, nothing lost', async (t) => {
  const f = await quickSoak(t, DEVICES, ['--cluster', '--seconds', '25', '--restart-at', '4', '--grace', '30']);
  if (!f) return;
  t.equal(f.messages.lost, 0, 'every acknowledged message was opened');
  t.equal(f.messages.opened, f.messages.sent, 'sent = opened (duplicates counted apart)');
});
