import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { registerStoreHealthMetrics } from '../../store/health-metrics.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';

async function sample(registry: Registry, line: string): Promise<number | undefined> {
  const found = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${line} `));
  return found === undefined ? undefined : Number(found.slice(line.length + 1));
}

t.test('the store state metric follows the store: ok, then lost when Redis comes back empty', async (t) => {
  const redis = await startRedis(t);
  const dir = tempDir(t);
  const store = await openStore(redis.url, { prefix: 'health:', identity: join(dir, IDENTITY_FILE), identityCheckMs: 500, identityRetryMs: 100 });
  t.teardown(() => store.close());
  const registry = new Registry();
  registerStoreHealthMetrics(registry, 'fleetkey_test_', () => store.health());
  t.equal(await sample(registry, 'fleetkey_test_store_state{state="ok"}'), 1);
  t.equal(await sample(registry, 'fleetkey_test_store_state{state="lost"}'), 0);
  t.equal(await sample(registry, 'fleetkey_test_store_unreplicated_writes_total'), 0);

  await redis.restartFrom('empty');
  const deadline = Date.now() + 20_000;
  while (store.health().state !== 'lost' && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  t.equal(await sample(registry, 'fleetkey_test_store_state{state="lost"}'), 1, 'lost once the marker is found gone');
  t.equal(await sample(registry, 'fleetkey_test_store_state{state="ok"}'), 0);
});

t.test('a file: store is ok and never unreplicated', async (t) => {
  const store = await openStore(`file:${tempDir(t)}`);
  t.teardown(() => store.close());
  const registry = new Registry();
  registerStoreHealthMetrics(registry, 'fleetkey_test_', () => store.health());
  t.equal(await sample(registry, 'fleetkey_test_store_state{state="ok"}'), 1);
  t.equal(await sample(registry, 'fleetkey_test_store_unreplicated_writes_total'), 0);
});
