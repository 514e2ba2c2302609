import { Redis } from 'ioredis';
import t, { type Test } from 'tap';
import { openStore } from '../../store/index.js';
import { RevocationCache } from '../../store/revocation-cache.js';
import { startRedis } from '../helpers/redis.js';

// Redis pub/sub is at most once: what is published while a subscriber is reconnecting is lost.
// A store says so with a local `events-resumed`, and the revocation cache reads the store again.

/** A real Redis, a store whose revocation cache is watched, a second store that writes, one device registered. */
async function watchedStore(t: Test, prefix: string, deviceId: string) {
  const redis = await startRedis(t);
  const watcher = await openStore(redis.url, { prefix });
  t.teardown(() => watcher.close());
  const writer = await openStore(redis.url, { prefix });
  t.teardown(() => writer.close());
  await writer.registerDevices([{ id: deviceId, token: 't'.repeat(32), tokenExpiresAt: new Date(Date.now() + 3600_000) }], 'test');
  const cache = await RevocationCache.open(watcher);
  t.teardown(() => cache.close());
  return { redis, watcher, writer, cache };
}

t.test('after its subscriber reconnects a store raises events-resumed, and the revocation cache catches up', async (t) => {
  const { redis, watcher, writer, cache } = await watchedStore(t, `gap${process.pid}:`, 'dev-1');
  const reloaded = new Promise<void>((resolve) => cache.onReloaded(resolve));
  const heard: string[] = [];
  watcher.on('device-changed', (e) => heard.push(e.deviceId));

  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  await writer.revokeDevice('dev-1', 'keyCompromise', 'test');
  await reloaded;
  t.same(heard, [], 'the event itself was lost');
  t.ok(cache.isSubjectRevoked('dev-1'), 'the cache has the revocation all the same');
});

t.test('fail/ events-resumed is never taken from the wire, nor published', async (t) => {
  const redis = await startRedis(t);
  const prefix = `gap${process.pid}w:`;
  const store = await openStore(redis.url, { prefix });
  t.teardown(() => store.close());
  let raised = 0;
  store.on('events-resumed', () => (raised += 1));
  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  await admin.publish(`${prefix}events`, JSON.stringify({ tag: 'x', event: { type: 'events-resumed' } }));
  await store.publish({ type: 'ca-changed' }); // delivered in order after the forged one
  t.equal(raised, 0, 'a forged events-resumed on the channel is ignored');
  await t.rejects(store.publish({ type: 'events-resumed' }), { code: 'STORE_INPUT_INVALID' });
});

t.test('the revocation cache is stale from the moment its feed is cut, and fresh again with the sequence it read', async (t) => {
  const { redis, watcher, writer, cache } = await watchedStore(t, `gap${process.pid}s:`, 'dev-2');
  t.ok(cache.isFresh(), 'fresh after loading');
  const cut = new Promise<void>((resolve) => watcher.on('events-cut', () => resolve()));

  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  await cut;
  t.notOk(cache.isFresh(), 'stale as soon as the feed is cut');
  await writer.revokeDevice('dev-2', 'keyCompromise', 'test');
  for (let i = 0; i < 200 && !cache.isFresh(); i++) await new Promise((r) => setTimeout(r, 25));
  t.ok(cache.isFresh(), 'fresh again by itself');
  t.equal(cache.appliedSeq, await writer.revocationSeq(), 'at the store\'s sequence');
  t.ok(cache.isSubjectRevoked('dev-2'), 'with the revocation it did not hear');
  t.equal(cache.reloads, 1, 'one reload');
});

t.test('a hung store makes the cache stale within a few seconds; it is fresh again when the store answers', async (t) => {
  const redis = await startRedis(t);
  const store = await openStore(redis.url, { prefix: `gap${process.pid}h:` });
  t.teardown(() => store.close());
  const cache = await RevocationCache.open(store, undefined, { checkIntervalMs: 200, staleAfterMs: 1000 });
  t.teardown(() => cache.close());
  redis.pause();
  t.teardown(() => redis.resume());
  const paused = Date.now();
  for (let i = 0; i < 200 && cache.isFresh(); i++) await new Promise((r) => setTimeout(r, 25));
  t.notOk(cache.isFresh(), `stale ${Date.now() - paused} ms after the store stopped answering`);
  redis.resume();
  for (let i = 0; i < 400 && !cache.isFresh(); i++) await new Promise((r) => setTimeout(r, 25));
  t.ok(cache.isFresh(), 'fresh again once it answers');
});
