import t from 'tap';
import { openStore } from '../../store/index.js';
import { tempDir } from '../helpers/tmp.js';
import { runStoreContract } from './contract.js';

void runStoreContract(t, 'file:', async (t) => {
  const store = await openStore(`file:${tempDir(t, 'fleetkey-store-')}`);
  t.teardown(() => store.close());
  return store;
});
