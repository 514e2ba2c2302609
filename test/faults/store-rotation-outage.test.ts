import { join } from 'node:path';
import t from 'tap';
import { ApiClient } from '../../cli/api-client.js';
import { rotateAndWait } from '../../cli/demo/rotate.js';
import { createProvisioner } from '../../provisioner/index.js';
import { newApiSecret, newApiTokenId } from '../../provisioner/rest-fleet.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet, testLogger } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';
import { writeDataDir } from '../kdc/data-dir.js';
import { startKdcProcess } from '../kdc/kdc-process.js';
import { enrolledDevice, rig, SimDevice, until } from '../kdc/kit.js';

const DEVICES = 120;

t.test('Redis SIGKILLed right after rotation-started and restarted with its data: the rotation completes by itself; rotate --wait started during the outage reports the truth', async (t) => {
  const redis = await startRedis(t, { appendfsync: 'always' });
  const fleet = await testFleet(t);
  const prefix = 'outage:';
  // The broker keeps a file: store of its own: this test is about the KDC, not the broker's outage.
  const brokerStore = await openStore(`file:${join(fleet.dir, 'broker-store')}`);
  t.teardown(() => brokerStore.close());
  const broker = await startBroker(t, fleet, { store: brokerStore });
  const r = rig(fleet, broker);
  const dir = writeDataDir(fleet, { kdc: r.kdcFiles }, r.kek);
  // Opened as the services open it: the empty store is claimed for this data dir (store identity).
  const store: Store = await openStore(redis.url, { prefix, identity: join(dir, IDENTITY_FILE) });
  t.teardown(() => store.close());
  const provisioner = await createProvisioner({ host: '127.0.0.1', port: 0, tls: () => ({ ca: fleet.caPems, ...fleet.server }), ca: fleet.ca, store, logger: testLogger() });
  t.teardown(() => provisioner.close());
  const { port } = await provisioner.listen();
  const secret = newApiSecret();
  await store.createApiToken({ id: newApiTokenId(), secret, role: 'operator' }, 'test');
  const api = new ApiClient({ url: `https://127.0.0.1:${port}`, token: secret, ca: fleet.caPems });
  t.teardown(() => api.close());

  // One device per rotation step, so that the kill lands while the epoch is being distributed.
  const kdc = await startKdcProcess(t, ['--dir', dir, '--store', redis.url, '--store-prefix', prefix, '--broker', broker.url, '--workers', '0', '--rotation-batch', '1', '--switch-after', '2']);
  const devices = await Promise.all(Array.from({ length: DEVICES }, async (_, i) => SimDevice.connect(t, r, `o-${i}`, await enrolledDevice(fleet, `o-${i}`, store))));
  await Promise.all(devices.map((d) => d.next()));

  await store.publish({ type: 'rotate-requested', requestedBy: 'test', switchAfterSeconds: undefined });
  await kdc.next('rotation-started');
  await redis.kill();
  const reachedAtKill = devices.filter((d) => d.received.some((g) => g.epoch === 2)).length;
  t.comment(`Redis killed with ${reachedAtKill}/${DEVICES} devices granted epoch 2`);

  // The operator's `rotate --wait`, started while the store is away: its request is refused (503) and repeated.
  const said: string[] = [];
  const waited = rotateAndWait(api, 2, 60_000, (line) => said.push(line));
  await kdc.next('rotation-store-unavailable');
  await until(() => said.some((l) => l.includes('STORE_UNAVAILABLE')), 20_000, 'rotateAndWait says what it waits for');
  await redis.restart();

  const result = await waited;
  t.comment(`rotateAndWait: ${said.join(' | ')}`);
  t.ok(result.complete, `rotate --wait reports a complete rotation (epoch ${result.epoch}: ${result.acked}/${result.granted})`);
  t.ok(result.epoch >= 3, 'the epoch it asked for, after the interrupted one');
  t.equal(result.granted, DEVICES, 'granted to every connected device');
  t.equal(result.acked, DEVICES);

  const epoch2 = await store.getEpoch(2);
  t.equal(epoch2?.state, 'distributed', 'the interrupted rotation completed with no operator step');
  t.same(await store.epochProgress(2), { epoch: 2, granted: DEVICES, acked: DEVICES });
  const current = (await store.currentEpoch())!.epoch;
  let unfinished = 0;
  for (let e = 1; e <= current; e++) if ((await store.getEpoch(e))?.state !== 'distributed') unfinished += 1;
  t.equal(unfinished, 0, 'rotations left unfinished = 0');

  let reused = 0;
  for (const d of devices) {
    const pairs = d.received.map((g) => `${g.epoch}/${g.grant}`);
    reused += pairs.length - new Set(pairs).size;
  }
  t.equal(reused, 0, 'no (epoch, grant number) reached a device twice');
  t.ok(devices.every((d) => d.refusals.every((c) => c === 'GRANT_NOT_NEWER')), 'devices refused nothing but a repeated grant');
  t.ok(kdc.count('rotation-store-unavailable') >= 1, 'the KDC waited the outage out mid-rotation');
  t.equal(kdc.count('rotation-failed'), 0, 'no rotation failed');
  t.equal(kdc.child.exitCode ?? kdc.child.signalCode, null, 'processes exited = 0');
  t.comment(`KDC retries during the outage: ${kdc.count('rotation-store-unavailable')}`);
});
