import t from 'tap';
import { Registry } from 'prom-client';
import { collectProcessMetrics, EVENT_LOOP_SAMPLE_MS } from '../../metrics/process.js';

t.test('ok/process metrics under the prefix, event-loop delay included', async (t) => {
  const registry = new Registry();
  collectProcessMetrics(registry, 'fleetkey_test_process_');
  await new Promise((resolve) => setTimeout(resolve, 3 * EVENT_LOOP_SAMPLE_MS));
  const text = await registry.metrics();
  for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) {
    t.match(text, new RegExp(`^fleetkey_test_process_${name} `, 'm'), name);
  }
  const p99 = Number(/^fleetkey_test_process_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1]);
  t.ok(p99 > 0, 'the delay histogram has samples');
  registry.clear();
});

