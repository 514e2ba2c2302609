import t from 'tap';
import { createKdc } from '../../kdc/index.js';
import { openStore } from '../../store/index.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';
import { onLine, spawnTs } from '../helpers/spawn-ts.js';
import { writeDataDir } from './data-dir.js';
import { enrolledDevice, kdcOptions, rig, SimDevice, sleep, until } from './kit.js';

t.test('two KDC processes on one Redis: one answer per request; rotating at once, one epoch, distributed once', async (t) => {
  const redis = await startRedis(t);
  const fleet = await testFleet(t);
  const open = async () => {
    const s = await openStore(redis.url, { prefix: 'replicas:' });
    t.teardown(() => s.close());
    return s;
  };
  const store = await open();
  const broker = await startBroker(t, fleet, { store });
  const r = rig(fleet, broker);
  const dir = writeDataDir(fleet, { kdc: r.kdcFiles }, r.kek);

  // Replica b: `fleetkey kdc` in a child process. Replica a: in this process, with its own store connection.
  const child = spawnTs(t, 'cli/main.ts', ['kdc', '--json', '--log-level', 'warn', '--metrics-port', '-1', '--name', 'b', '--dir', dir,
    '--store', redis.url, '--store-prefix', 'replicas:', '--broker', broker.url, '--workers', '1', '--switch-after', '1']);
  await new Promise<void>((resolve) => onLine(child, (line) => line.includes('"service":"kdc"') && resolve()));
  const a = await createKdc(kdcOptions(r, { name: 'a', store: await open(), requestIntervalMs: 1000 }));
  t.teardown(() => a.close());

  const devices = await Promise.all(Array.from({ length: 20 }, async (_, i) => SimDevice.connect(t, r, `rep-${i}`, await enrolledDevice(fleet, `rep-${i}`, store))));
  await Promise.all(devices.map((d) => d.next()));
  // Both replicas receive every request (aedes has no shared subscriptions); each claims it in the
  // store, and only the one that wins the claim answers.
  await sleep(1000);
  t.same(new Set(devices.map((d) => d.received.filter((g) => g.req !== undefined).length)), new Set([1]), 'each request answered exactly once');

  for (const epoch of [2, 3, 4]) {
    // The store event reaches both replicas; replica a is also asked directly, at the same moment.
    const [direct] = await Promise.all([a.rotate({ requestedBy: 'test' }), store.publish({ type: 'rotate-requested', requestedBy: 'test', switchAfterSeconds: undefined })]);
    t.ok(['rotated', 'lost', 'in-progress'].includes(direct.outcome), `replica a: ${direct.outcome}`);
    await until(async () => (await store.getEpoch(epoch))?.state === 'distributed', 10_000, `epoch ${epoch} distributed`);
    await until(async () => (await store.epochProgress(epoch)).acked === devices.length, 10_000, `epoch ${epoch} acked`);
    await sleep(200);
    t.equal((await store.currentEpoch())?.epoch, epoch, `exactly one epoch ${epoch}, no epoch ${epoch + 1}`);
    const rotationGrants = devices.map((d) => d.received.filter((g) => g.epoch === epoch && g.req === undefined).length);
    t.same(new Set(rotationGrants), new Set([1]), `epoch ${epoch}: each device got exactly one rotation grant`);
    t.equal((await store.readAudit({ subject: String(epoch) })).entries.filter((e) => e.action === 'epoch.rotate').length, 1, `epoch ${epoch}: one rotation audited`);
    await sleep(1100); // let the devices switch
  }
  t.same(devices.flatMap((d) => d.refusals), [], 'no device refused a grant');
});
