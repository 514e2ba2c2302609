import { randomBytes } from 'node:crypto';
import type { Test } from 'tap';
import type { Store } from '../../../store/types.js';
import { deviceId, kek, refuses, refusesUnchanged, watchEvent, type OpenStore } from './fixtures.js';

const soon = () => new Date(Date.now() + 5000);

async function epochs(store: Store, key: Buffer, n: number): Promise<Buffer[]> {
  const secrets: Buffer[] = [];
  for (let e = 1; e <= n; e += 1) {
    const secret = randomBytes(32);
    await store.createNextEpoch(e - 1, secret, key, soon());
    secrets.push(secret);
  }
  return secrets;
}

export function keysContract(t: Test, open: OpenStore): void {
  t.test('creates epochs by compare-and-set and publishes rotated', async (t) => {
    const store = await open(t);
    const key = kek();
    t.equal(await store.currentEpoch(), undefined, 'no epoch yet');
    const activatesAt = soon();
    const rotated = watchEvent(store, 'rotated');
    const [a, b] = await Promise.all([
      store.createNextEpoch(0, randomBytes(32), key, activatesAt),
      store.createNextEpoch(0, randomBytes(32), key, activatesAt),
    ]);
    t.equal([a, b].filter((r) => r !== undefined).length, 1, 'two concurrent rotations make one epoch');
    const record = (a ?? b)!;
    t.same({ epoch: record.epoch, state: record.state, activatesAt: record.activatesAt }, { epoch: 1, state: 'distributing', activatesAt });
    t.same(await rotated.within(100), { type: 'rotated', epoch: 1, activatesAt: activatesAt.toISOString() });
    t.same(await store.currentEpoch(), record);
    t.same(await store.getEpoch(1), record);
    t.equal(await store.getEpoch(2), undefined);
    t.equal(await store.createNextEpoch(0, randomBytes(32), key, soon()), undefined, 'a stale expectation loses');
    t.equal((await store.createNextEpoch(1, randomBytes(32), key, soon()))?.epoch, 2);
    await store.markEpochDistributed(1);
    t.equal((await store.getEpoch(1))?.state, 'distributed');
    await refusesUnchanged(t, store, () => store.markEpochDistributed(9), 'EPOCH_NOT_FOUND', 'unknown epoch');
    await refusesUnchanged(t, store, () => store.createNextEpoch(2, randomBytes(16), key, soon()), 'STORE_INPUT_INVALID', 'short secret');
    await refusesUnchanged(t, store, () => store.createNextEpoch(2, randomBytes(32), randomBytes(16), soon()), 'KEK_INVALID', 'short KEK');
    await refusesUnchanged(t, store, () => store.createNextEpoch(-1, randomBytes(32), key, soon()), 'STORE_INPUT_INVALID', 'negative epoch');
  });

  t.test('keeps epoch secrets sealed under the KEK and deletes them past retention', async (t) => {
    const store = await open(t);
    const key = kek();
    const secrets = await epochs(store, key, 4);
    const opened = await store.epochSecret(2, key);
    t.ok(opened?.equals(secrets[1]!), 'round-trips with the KEK');
    await refuses(t, store.epochSecret(2, kek()), 'EPOCH_SECRET_UNREADABLE', 'another KEK');
    t.equal(await store.epochSecret(9, key), undefined, 'unknown epoch');
    t.equal(await store.deleteEpochSecretsBefore(3), 2);
    t.equal(await store.epochSecret(1, key), undefined, 'deleted');
    t.equal(await store.epochSecret(2, key), undefined, 'deleted');
    t.ok((await store.epochSecret(3, key))?.equals(secrets[2]!), 'kept');
    t.ok(await store.getEpoch(1), 'the epoch record stays');
    t.equal(await store.deleteEpochSecretsBefore(3), 0, 'nothing left to delete');
    await refusesUnchanged(t, store, () => store.deleteEpochSecretsBefore(5), 'STORE_INPUT_INVALID', 'past the current epoch');
  });

  t.test('hands out grant numbers per (device, epoch), never the same one twice', async (t) => {
    const store = await open(t);
    await epochs(store, kek(), 2);
    const [a, b, c] = [deviceId(), deviceId(), deviceId()];
    t.same(await store.nextGrants([a, b], 1), new Map([[a, 1], [b, 1]]));
    t.same(await store.nextGrants([a, c], 1), new Map([[a, 2], [c, 1]]));
    t.same(await store.nextGrants([a], 2), new Map([[a, 1]]), 'epochs count separately');
    t.same(await store.nextGrants([b, b], 1), new Map([[b, 2]]), 'a device listed twice gets one number');
    t.same(await store.nextGrants([], 1), new Map(), 'empty batch');
    const singles = await Promise.all(Array.from({ length: 50 }, () => store.nextGrants([c], 1)));
    t.same(singles.map((m) => m.get(c)).sort((x, y) => x! - y!), Array.from({ length: 50 }, (_, i) => i + 2), 'concurrent calls: contiguous, distinct');
    const many = Array.from({ length: 2000 }, () => deviceId('bulk'));
    const granted = await store.nextGrants(many, 2);
    t.ok(many.every((id) => granted.get(id) === 1), 'a batch of 2000');
    t.same(await store.epochProgress(2), { epoch: 2, granted: 2001, acked: 0 });
    await refusesUnchanged(t, store, () => store.nextGrants([a], 7), 'EPOCH_NOT_FOUND', 'unknown epoch');
    await refusesUnchanged(t, store, () => store.nextGrants([a, 'no/pe'], 1), 'DEVICE_ID_INVALID', 'invalid id');
    t.same(await store.nextGrants([a], 1), new Map([[a, 3]]), 'refused batches took no number');
  });

  t.test('records acks and reports progress', async (t) => {
    const store = await open(t);
    await epochs(store, kek(), 1);
    const ids = [deviceId(), deviceId(), deviceId()];
    await store.nextGrants(ids, 1);
    await store.nextGrants([ids[0]!], 1);
    t.same(await store.epochProgress(1), { epoch: 1, granted: 3, acked: 0 });
    await store.recordAcks([{ deviceId: ids[0]!, epoch: 1, grant: 2 }, { deviceId: ids[1]!, epoch: 1, grant: 1 }]);
    t.same(await store.epochProgress(1), { epoch: 1, granted: 3, acked: 2 });
    t.same(await store.listUnacked(1), [ids[2]]);
    await store.recordAcks([{ deviceId: ids[2]!, epoch: 1, grant: 5 }, { deviceId: deviceId(), epoch: 1, grant: 1 }]);
    t.same(await store.epochProgress(1), { epoch: 1, granted: 3, acked: 2 }, 'acks of grants never issued are ignored');
    await store.recordAcks([{ deviceId: ids[0]!, epoch: 1, grant: 1 }]);
    t.same(await store.epochProgress(1), { epoch: 1, granted: 3, acked: 2 }, 'an older ack changes nothing');
    await refusesUnchanged(t, store, () => store.recordAcks([{ deviceId: ids[2]!, epoch: 1, grant: 1 }, { deviceId: ids[2]!, epoch: 1, grant: 0 }]), 'STORE_INPUT_INVALID', 'grant 0 refuses the batch');
    t.same(await store.listUnacked(1), [ids[2]], 'nothing of the refused batch applied');
    const more = Array.from({ length: 30 }, () => deviceId());
    await store.nextGrants(more, 1);
    t.equal((await store.listUnacked(1, 10)).length, 10, 'limit');
    t.same((await store.listGranted(1)).sort(), [...ids, ...more].sort(), 'granted: acknowledged or not');
    t.equal((await store.listGranted(1, 10)).length, 10, 'granted: limit');
    await refuses(t, store.listGranted(3), 'EPOCH_NOT_FOUND', 'granted of an unknown epoch');
    await refuses(t, store.epochProgress(3), 'EPOCH_NOT_FOUND', 'progress of an unknown epoch');
    await refuses(t, store.listUnacked(3), 'EPOCH_NOT_FOUND', 'unacked of an unknown epoch');
  });

  t.test('claims rekey requests: the first claim of an (id, nonce) wins until it expires', async (t) => {
    const store = await open(t);
    const first = await store.claimRekeyRequests([{ id: 'dev-1', nonce: 'n-1' }, { id: 'consumer-a', nonce: 'n-2' }], 300);
    t.same([...first].sort(), ['consumer-a', 'dev-1'], 'both won by the first caller');
    const again = await Promise.all([1, 2, 3].map(() => store.claimRekeyRequests([{ id: 'dev-1', nonce: 'n-1' }], 300)));
    t.same(again.map((won) => won.size), [0, 0, 0], 'a claimed request is not won again, however many ask at once');
    const race = await Promise.all([1, 2, 3, 4].map(() => store.claimRekeyRequests([{ id: 'dev-2', nonce: 'n-9' }], 300)));
    t.equal(race.filter((won) => won.has('dev-2')).length, 1, 'of concurrent first claims exactly one wins');
    t.same([...(await store.claimRekeyRequests([{ id: 'dev-1', nonce: 'n-3' }], 300))], ['dev-1'], 'another nonce is another request');
    await new Promise((resolve) => setTimeout(resolve, 450));
    t.same([...(await store.claimRekeyRequests([{ id: 'dev-1', nonce: 'n-1' }], 300))], ['dev-1'], 'claimable again once expired');
    t.same([...(await store.claimRekeyRequests([], 300))], [], 'an empty batch wins nothing');
    await refuses(t, store.claimRekeyRequests([{ id: '', nonce: 'n' }], 300), 'STORE_INPUT_INVALID', 'empty id');
    await refuses(t, store.claimRekeyRequests([{ id: 'dev-1', nonce: 'x'.repeat(129) }], 300), 'STORE_INPUT_INVALID', 'nonce too long');
    await refuses(t, store.claimRekeyRequests([{ id: 'dev/1', nonce: 'n' }], 300), 'STORE_INPUT_INVALID', 'an id that is not a client id');
    await refuses(t, store.claimRekeyRequests([{ id: 'dev-1', nonce: 'n/1' }], 300), 'STORE_INPUT_INVALID', 'a nonce that is not base64url');
    await refuses(t, store.claimRekeyRequests([{ id: 'dev-3', nonce: 'n' }], 0), 'STORE_INPUT_INVALID', 'ttl 0');
    t.same([...(await store.claimRekeyRequests([{ id: 'dev-3', nonce: 'n' }], 300))], ['dev-3'], 'a refused batch claimed nothing');
  });
}
