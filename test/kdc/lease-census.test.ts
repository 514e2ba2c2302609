import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EpochHighWater } from '../../kdc/high-water.js';
import { Presence } from '../../kdc/presence.js';
import { encodeCensus, parseCensus, censusTopic } from '../../protocol/census.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { startRedis } from '../helpers/redis.js';
import { tempDir } from '../helpers/tmp.js';
import { sleep } from './kit.js';

const kek = randomBytes(32);
const soon = () => new Date(Date.now() + 5000);

/** The rotation lease and createNextEpoch's minimum/lease options: one contract, both backends. */
function leaseContract(t: Test, open: (t: Test) => Promise<Store>): void {
  t.test('a lease is taken, renewed by its holder, refused to others until it runs out or is released', async (t) => {
    const store = await open(t);
    t.equal(await store.leaseRotation(2, 'kdc-a', 300), true, 'a free lease is taken');
    t.equal(await store.leaseRotation(2, 'kdc-a', 300), true, 'its holder renews it');
    t.equal(await store.leaseRotation(2, 'kdc-b', 300), false, 'another holder is refused while it runs');
    t.equal(await store.leaseRotation(3, 'kdc-b', 300), true, 'leases are per epoch');
    await sleep(400);
    t.equal(await store.leaseRotation(2, 'kdc-b', 300), true, 'a lease that ran out is free');
    await store.releaseRotation(2, 'kdc-a');
    t.equal(await store.leaseRotation(2, 'kdc-a', 300), false, 'a release by a non-holder changes nothing');
    await store.releaseRotation(2, 'kdc-b');
    t.equal(await store.leaseRotation(2, 'kdc-a', 300), true, 'released: free at once');
    await t.rejects(store.leaseRotation(0, 'kdc-a', 300), { code: 'STORE_INPUT_INVALID' });
    await t.rejects(store.leaseRotation(1, 'kdc a', 300), { code: 'STORE_INPUT_INVALID' });
    await t.rejects(store.leaseRotation(1, 'kdc-a', 0), { code: 'STORE_INPUT_INVALID' });
  });

  t.test('createNextEpoch: the lease in the same step; a minimum moves the number past a lost range, the compare-and-set holds', async (t) => {
    const store = await open(t);
    const first = await store.createNextEpoch(0, randomBytes(32), kek, soon(), { lease: { holder: 'kdc-a', ttlMs: 5000 } });
    t.equal(first?.epoch, 1);
    t.equal(await store.leaseRotation(1, 'kdc-b', 5000), false, 'the creator holds the lease');
    const [x, y] = await Promise.all([
      store.createNextEpoch(1, randomBytes(32), kek, soon(), { minimum: 7 }),
      store.createNextEpoch(1, randomBytes(32), kek, soon(), { minimum: 5 }),
    ]);
    t.equal([x, y].filter((r) => r !== undefined).length, 1, 'of two replicas from the same epoch one wins');
    const made = (x ?? y)!;
    t.ok(made.epoch === 7 || made.epoch === 5, `numbered at the winner's minimum (${made.epoch})`);
    t.equal((await store.currentEpoch())?.epoch, made.epoch);
    t.equal(await store.getEpoch(2), undefined, 'no epoch in between');
    t.ok(await store.epochSecret(made.epoch, kek), 'its secret is sealed under its own number');
    t.equal((await store.createNextEpoch(made.epoch, randomBytes(32), kek, soon(), { minimum: 2 }))?.epoch, made.epoch + 1, 'a minimum below the next number changes nothing');
    await t.rejects(store.createNextEpoch(made.epoch + 1, randomBytes(32), kek, soon(), { minimum: 0 }), { code: 'STORE_INPUT_INVALID' });
  });
}

t.test('file store', async (t) => {
  leaseContract(t, async (t) => {
    const store = await openStore(`file:${tempDir(t)}`);
    t.teardown(() => store.close());
    return store;
  });
});

t.test('redis store', async (t) => {
  const redis = await startRedis(t);
  let n = 0;
  leaseContract(t, async (t) => {
    const store = await openStore(redis.url, { prefix: `lease${(n += 1)}:` });
    t.teardown(() => store.close());
    return store;
  });
});

t.test('the high-water mark: written durably, mode 0600, read back; never lowered; a number made again at another time is not covered', async (t) => {
  const file = join(tempDir(t), 'kdc', 'a.epoch');
  const mark = EpochHighWater.open(file);
  t.equal(mark.mark, undefined, 'no file: no mark');
  const e3 = { epoch: 3, createdAt: new Date(1_700_000_000_000), activatesAt: new Date(), state: 'distributed' as const };
  mark.raise(e3);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.same(JSON.parse(readFileSync(file, 'utf8')), { epoch: 3, createdAt: e3.createdAt.toISOString() });
  mark.raise({ ...e3, epoch: 2 });
  t.same(EpochHighWater.open(file).mark, { epoch: 3, createdAt: e3.createdAt.getTime() }, 'never lowered');
  t.ok(mark.covers(e3), 'the same epoch');
  t.ok(mark.covers({ ...e3, epoch: 4 }), 'a newer one');
  t.notOk(mark.covers({ ...e3, epoch: 2 }), 'an older one is not');
  t.notOk(mark.covers({ ...e3, createdAt: new Date(1_700_000_001_000) }), 'number 3 made again is not');
});

t.test('the census marks every listed device connected on its node, across parts', async (t) => {
  const presence = new Presence();
  presence.seed(['old-1']);
  const ids = Array.from({ length: 4500 }, (_, i) => `c-${i}`);
  const parts = encodeCensus('node-a', ids, new Date());
  t.equal(parts.length, 3);
  for (const payload of parts) {
    const part = parseCensus(censusTopic('node-a'), payload);
    t.ok(part);
    presence.census(part!.node, part!.devices);
  }
  t.equal(presence.size, 4501, '4500 from the census, 1 seeded');
  t.equal(parseCensus(censusTopic('node-b'), parts[0]!), undefined, 'a part published under another node is refused');
  presence.disconnected('c-1', 'node-a');
  t.notOk(presence.has('c-1'), 'a device listed by the census leaves with its disconnect');
  t.equal(presence.rotationTargets().length, 4500, 'census devices are confirmed targets, and so is the seeded one this time');
});
