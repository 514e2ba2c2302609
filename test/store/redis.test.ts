import t from 'tap';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { runStoreContract } from './contract.js';

const redis = await startRedis(t);
let fleets = 0;

void runStoreContract(t, 'redis:', async (t) => {
  const store = await openStore(redis.url, { prefix: `contract-${(fleets += 1)}:` });
  t.teardown(() => store.close());
  return store;
});
