import t from 'tap';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { writeDataDir } from './data-dir.js';
import { enrolledDevice, rig, SimDevice, until } from './kit.js';

const DEVICES = 120;

/** `fleetkey kdc` as a child process on the Redis store; resolves once it serves. */
async function kdcChild(t: Parameters<typeof spawnTs>[0], args: string[]) {
  const child = spawnTs(t, 'cli/main.ts', ['kdc', '--json', '--log-level', 'warn', '--metrics-port', '-1', ...args]);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  await new Promise<void>((resolve, reject) => {
    onLine(child, (line) => line.includes('"service":"kdc"') && resolve());
    child.once('exit', (code) => reject(new Error(`kdc exited ${code}: ${stderr}`)));
  });
  return child;
}

t.test('a KDC killed mid-rotation completes it on restart; no grant number is ever reused', async (t) => {
  const redis = await startRedis(t);
  const fleet = await testFleet(t);
  const store: Store = await openStore(redis.url, { prefix: 'restart:' });
  t.teardown(() => store.close());
  const broker = await startBroker(t, fleet, { store });
  const r = rig(fleet, broker);
  const dir = writeDataDir(fleet, { kdc: r.kdcFiles }, r.kek);
  const args = ['--dir', dir, '--store', redis.url, '--store-prefix', 'restart:', '--broker', broker.url, '--workers', '0', '--rotation-batch', '8', '--switch-after', '2'];

  const first = await kdcChild(t, args);
  const devices = await Promise.all(Array.from({ length: DEVICES }, async (_, i) => SimDevice.connect(t, r, `k-${i}`, await enrolledDevice(fleet, `k-${i}`, store))));
  await Promise.all(devices.map((d) => d.next()));

  const firstRotationGrant = Promise.race(devices.map((d) => d.next((g) => g.epoch === 2, 20_000)));
  await store.publish({ type: 'rotate-requested', requestedBy: 'test', switchAfterSeconds: undefined });
  await firstRotationGrant;
  first.kill('SIGKILL');
  t.equal((await exited(first)).signal, 'SIGKILL');
  const epoch = await store.getEpoch(2);
  const reached = devices.filter((d) => d.received.some((g) => g.epoch === 2)).length;
  t.equal(epoch?.state, 'distributing', 'killed before the epoch was distributed');
  t.comment(`killed with ${reached}/${DEVICES} devices granted epoch 2 (store: ${(await store.epochProgress(2)).granted} numbered)`);
  t.ok(reached < DEVICES, 'mid-rotation: some devices still had no grant');

  await kdcChild(t, args);
  await until(() => devices.every((d) => d.keyring.pending()?.epoch === 2 || d.keyring.current()?.epoch === 2), 20_000, 'every device holds epoch 2');
  await until(async () => (await store.getEpoch(2))?.state === 'distributed', 10_000, 'distributed');
  await until(async () => { const p = await store.epochProgress(2); return p.acked === DEVICES; }, 10_000, 'every device acked');
  t.same(await store.epochProgress(2), { epoch: 2, granted: DEVICES, acked: DEVICES });
  t.equal((await store.currentEpoch())?.epoch, 2, 'one epoch, not two');

  for (const d of devices) {
    const pairs = d.received.map((g) => `${g.epoch}/${g.grant}`);
    if (new Set(pairs).size !== pairs.length) t.fail(`${d.id} received a grant number twice: ${pairs.join(' ')}`);
    const keys = d.received.map((g) => g.key.toString('hex'));
    if (new Set(keys).size !== keys.length) t.fail(`${d.id} received one key twice`);
  }
  const resent = devices.filter((d) => d.received.filter((g) => g.epoch === 2).length > 1);
  t.ok(resent.every((d) => d.refusals.every((c) => c === 'GRANT_NOT_NEWER')), 'a repeated rotation grant is refused as not newer, nothing else');
  t.comment(`${resent.length} device(s) got epoch 2 twice (once before the kill, once after) and kept the first`);
  t.pass('no (epoch, grant) pair and no key reached a device twice');
});
