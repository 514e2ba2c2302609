import { Redis } from 'ioredis';
import t from 'tap';
import { openStore } from '../../store/index.js';
import { rotationRequestAudit } from '../../store/records.js';
import type { Store } from '../../store/types.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';
import { rig, startKdc, until } from './kit.js';

// A rotation request is audited (naming the epoch it asks for), then published as `rotate-requested`.
// A KDC that was not running, or whose event feed was cut, when the event went out finds the entry.

/** What POST /v1/rotations does, as the provisioner does it. */
async function requestRotation(store: Store, switchAfterSeconds: number): Promise<void> {
  const current = (await store.currentEpoch())?.epoch ?? 0;
  await store.appendAudit({ actor: 'api:ops', action: rotationRequestAudit.action, subject: rotationRequestAudit.subject(current + 1), detail: { switchAfterSeconds } });
  await store.publish({ type: 'rotate-requested', requestedBy: 'api:ops', switchAfterSeconds });
}

async function rotations(store: Store): Promise<{ actor: string; subject: string; requestedBy: unknown }[]> {
  const { entries } = await store.readAudit({ limit: 1000 });
  return entries.filter((e) => e.action === 'epoch.rotate').map((e) => ({ actor: e.actor, subject: e.subject, requestedBy: e.detail?.requestedBy }));
}

t.test('a request made while no KDC ran is carried out when one starts, and only once', async (t) => {
  const fleet = await testFleet(t);
  const broker = await startBroker(t, fleet);
  const r = rig(fleet, broker);
  const first = await startKdc(t, r);
  t.equal(first.currentEpoch()?.epoch, 1);
  await first.close();

  await requestRotation(fleet.store, 1);
  t.equal((await fleet.store.currentEpoch())?.epoch, 1, 'nobody heard it');

  const second = await startKdc(t, r);
  t.equal(second.currentEpoch()?.epoch, 2, 'the restarted KDC rotated');
  t.same((await rotations(fleet.store)).map((e) => [e.subject, e.requestedBy]), [['2', 'api:ops']], 'on behalf of who asked');
  await second.close();

  const third = await startKdc(t, r);
  t.equal(third.currentEpoch()?.epoch, 2, 'a request already carried out is not carried out again');
});

t.test('a request sent while a KDC\'s event feed was cut is carried out once the feed is back', async (t) => {
  const redis = await startRedis(t);
  const fleet = await testFleet(t);
  const store = await openStore(redis.url, { prefix: `missed${process.pid}:` });
  t.teardown(() => store.close());
  const broker = await startBroker(t, fleet, { store });
  const kdc = await startKdc(t, rig(fleet, broker), { store });
  const heard: string[] = [];
  store.on('rotate-requested', (e) => heard.push(e.requestedBy));

  const admin = new Redis(redis.url);
  t.teardown(() => admin.disconnect());
  await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
  const asking = await openStore(redis.url, { prefix: `missed${process.pid}:` });
  t.teardown(() => asking.close());
  await requestRotation(asking, 1);
  await until(() => kdc.currentEpoch()?.epoch === 2, 10_000, 'epoch 2');
  t.same(heard, [], 'the KDC\'s store never delivered the event');
  t.equal((await store.currentEpoch())?.epoch, 2);
});
