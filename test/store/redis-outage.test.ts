import t, { type Test } from 'tap';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { startRedis } from '../helpers/redis.js';
import { certificate, enrolled, observe, refuses, registered } from './contract/fixtures.js';

const redis = await startRedis(t);

async function open(t: Test, prefix: string): Promise<Store> {
  const store = await openStore(redis.url, { prefix });
  t.teardown(() => store.close());
  return store;
}

async function eventually<T>(what: string, attempt: () => Promise<T>, ms = 10_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      return await attempt();
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`${what}: still failing after ${ms} ms`, { cause: err });
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** True once an event published on `other` reaches `store` (each try waits 100 ms; tries for 10 s). */
async function eventsFlow(store: Store, other: Store): Promise<boolean> {
  return eventually('events', async () => {
    let heard: () => void = () => undefined;
    const got = new Promise<void>((resolve) => (heard = resolve));
    const stop = store.on('ca-changed', () => heard());
    try {
      await other.publish({ type: 'ca-changed' });
      await Promise.race([got, new Promise((_, reject) => setTimeout(() => reject(new Error('not heard')), 100))]);
      return true;
    } finally {
      stop();
    }
  });
}

t.test('opening a store on a Redis nobody serves fails fast with STORE_UNAVAILABLE', async (t) => {
  const started = Date.now();
  await refuses(t, openStore('redis://127.0.0.1:1', { prefix: 'nowhere:' }), 'STORE_UNAVAILABLE');
  t.ok(Date.now() - started < 3000, `refused after ${Date.now() - started} ms`);
});

t.test('Redis restart: fail fast and change nothing during the outage, recover after it', async (t) => {
  const store = await open(t, 'outage:');
  const other = await open(t, 'outage:');
  const [device] = await registered(store);
  const active = await enrolled(store);
  const before = await observe(store);

  await redis.stop();
  const attempts: [string, () => Promise<unknown>][] = [
    ['enroll', () => store.enrollDevice(device!.id, device!.token, certificate(device!.id))],
    ['revoke', () => store.revokeDevice(active.id, 'keyCompromise', 'test')],
    ['register', () => store.registerDevices([{ id: 'late', token: 'x'.repeat(32), tokenExpiresAt: new Date(Date.now() + 60_000) }], 'test')],
    ['publish', () => store.publish({ type: 'ca-changed' })],
    ['read', () => store.getDevice(device!.id)],
  ];
  for (const [what, attempt] of attempts) {
    const started = Date.now();
    const err = await refuses(t, attempt(), 'STORE_UNAVAILABLE', `${what} during the outage`);
    t.ok(Date.now() - started < 500, `${what} refused after ${Date.now() - started} ms`);
    t.match(err?.status, 503);
  }

  await redis.restart();
  await eventually('reads after the restart', () => store.getDevice(device!.id));
  t.same(await observe(store), before, 'the refused operations changed nothing');
  t.ok(await eventsFlow(store, other), 'events flow again (re-subscribed)');
  t.ok(await eventsFlow(other, store), 'both ways');
  await store.enrollDevice(device!.id, device!.token, certificate(device!.id));
  t.equal((await other.getDevice(device!.id))?.status, 'active', 'writes work again, and the token was not used up');
});

t.test('a hung Redis: an operation fails with STORE_UNAVAILABLE after the command timeout, then recovers', async (t) => {
  const store = await open(t, 'hung:');
  const [device] = await registered(store);
  redis.pause();
  const resumed = () => redis.resume();
  t.teardown(resumed);
  const started = Date.now();
  await refuses(t, store.getDevice(device!.id), 'STORE_UNAVAILABLE', 'read while hung');
  const elapsed = Date.now() - started;
  t.ok(elapsed >= 1500 && elapsed < 3500, `refused after ${elapsed} ms (command timeout 2 s)`);
  resumed();
  t.equal((await eventually('read after resume', () => store.getDevice(device!.id)))?.status, 'registered');
});
