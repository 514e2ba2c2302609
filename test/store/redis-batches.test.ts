import t from 'tap';
import { openStore } from '../../store/index.js';
import { limits } from '../../store/records.js';
import { startRedis } from '../helpers/redis.js';
import { kek, newDevice, refuses } from './contract/fixtures.js';

const redis = await startRedis(t);

t.test('the largest batches the store accepts go through', async (t) => {
  const store = await openStore(redis.url, { prefix: 'batches:' });
  t.teardown(() => store.close());
  const devices = Array.from({ length: limits.registerBatchMax }, (_, i) => newDevice(`batch-${i}`));
  await store.registerDevices(devices, 'test');
  t.same(await store.countDevices(), { registered: limits.registerBatchMax, active: 0, revoked: 0 });
  const again = [newDevice('fresh-1'), devices[9_999]!, newDevice('fresh-2')];
  await refuses(t, store.registerDevices(again, 'test'), 'DEVICE_EXISTS', 'one registered id refuses the whole batch');
  t.equal(await store.getDevice('fresh-1'), undefined, 'nothing of the refused batch was written');

  await store.createNextEpoch(0, Buffer.alloc(32, 9), kek(), new Date());
  const ids = Array.from({ length: limits.grantBatchMax }, (_, i) => `grant-${i}`);
  const granted = await store.nextGrants(ids, 1);
  t.equal(granted.size, ids.length);
  t.ok(ids.every((id) => granted.get(id) === 1), 'every device got grant 1');
  await store.recordAcks(ids.map((deviceId) => ({ deviceId, epoch: 1, grant: 1 })));
  t.same(await store.epochProgress(1), { epoch: 1, granted: ids.length, acked: ids.length });
  t.same(await store.listUnacked(1), []);
});
