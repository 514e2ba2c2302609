import t, { type Test } from 'tap';
import { encodeJson } from '../../store/records.js';
import { openStore } from '../../store/index.js';
import type { StoreEvent } from '../../store/types.js';
import { startRedis } from '../helpers/redis.js';
import { certificate, kek, registered } from './contract/fixtures.js';
import { startPeer } from './fixtures/peer.js';

const redis = await startRedis(t);

async function twoProcesses(t: Test, prefix: string) {
  const store = await openStore(redis.url, { prefix });
  t.teardown(() => store.close());
  return { store, peer: await startPeer(t, redis.url, prefix) };
}

t.test('50 concurrent enrollments from two processes: exactly one certificate', async (t) => {
  const { store, peer } = await twoProcesses(t, 'enroll:');
  const [device] = await registered(store);
  const certs = Array.from({ length: 50 }, () => certificate(device!.id));
  const at = Date.now() + 300;
  const theirs = peer.request({ op: 'enroll', id: device!.id, token: device!.token, certificates: encodeJson(certs.slice(25)), at });
  await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
  const ours = await Promise.allSettled(certs.slice(0, 25).map((c) => store.enrollDevice(device!.id, device!.token, c)));
  const outcomes = [...ours.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as { code: string }).code)), ...((await theirs) as string[])];
  t.equal(outcomes.length, 50);
  t.equal(outcomes.filter((o) => o === 'ok').length, 1, 'one winner');
  t.equal(outcomes.filter((o) => o === 'ENROLLMENT_REFUSED').length, 49, 'the others refused');
  const winner = certs[outcomes.indexOf('ok')]!;
  t.same((await store.listCertificates(device!.id)).map((c) => c.serial), [winner.serial], "only the winner's certificate");
  t.equal((await store.getDevice(device!.id))?.status, 'active');
  t.same(await store.countDevices(), { registered: 0, active: 1, revoked: 0 });
});

t.test('concurrent rotations from two processes: exactly one new epoch', async (t) => {
  const { store, peer } = await twoProcesses(t, 'rotate:');
  const key = kek();
  const at = Date.now() + 300;
  const theirs = peer.request({ op: 'rotate', expected: 0, n: 10, kek: key.toString('base64'), at });
  await new Promise((resolve) => setTimeout(resolve, at - Date.now()));
  const ours = await Promise.all(Array.from({ length: 10 }, () => store.createNextEpoch(0, Buffer.alloc(32, 1), key, new Date())));
  const created = [...ours.map((r) => r?.epoch ?? null), ...((await theirs) as (number | null)[])].filter((e) => e !== null);
  t.same(created, [1], 'one of twenty creates epoch 1');
  t.equal((await store.currentEpoch())?.epoch, 1);
});

/** `promise`, or a failure naming `what` after 10 s: a lost event fails here rather than at tap's timeout. */
function within<T>(promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} not heard within 10 s`)), 10_000);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

// How fast they arrive is measured by bench/store.ts (p50/p99 of revocations heard by another connection).
t.test("events reach the other process's handlers, both ways", async (t) => {
  const { store, peer } = await twoProcesses(t, 'events:');
  t.equal(await peer.request({ op: 'watch' }), 'watching');
  const heard = new Promise<{ event: StoreEvent; at: number }>((resolve) => peer.onEvent((event, at) => resolve({ event, at })));
  const [device] = await registered(store);
  await store.revokeDevice(device!.id, 'keyCompromise', 'test');
  const { event } = await within(heard, 'revoked');
  t.match(event, { type: 'revoked', subject: device!.id, reason: 'keyCompromise' }, 'revoked heard by the other process');

  const back = new Promise<void>((resolve) => store.on('rotate-requested', () => resolve()));
  await peer.request({ op: 'publish', event: { type: 'rotate-requested', requestedBy: 'peer', switchAfterSeconds: 5 } });
  await within(back, 'rotate-requested');
  t.pass('rotate-requested from the other process heard');
});
