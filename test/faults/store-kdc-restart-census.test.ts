import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { loadFleetCa } from '../../certs/ca-files.js';
import { ApiClient } from '../../cli/api-client.js';
import { readCaPems } from '../../cli/data-dir.js';
import { rotateAndWait } from '../../cli/demo/rotate.js';
import { createFleet, fleetTrust, makeBundle, recordBundles, type SimEvent, type SimFleet } from '../../device-sim/index.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { exited, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { startKdcProcess } from '../kdc/kdc-process.js';
import { startService, until, type ServiceProcess } from './store-services-process.js';

// The "rotate --wait: complete, 0 of 0 while 120 are connected": a KDC restarted when the
// store cannot tell it who is connected (the current epoch's grants are gone) learns its devices
// from the brokers' census (protocol/census.ts), on both nodes of a cluster, and only live sessions:
// not a census another replica asked for while it was down (which QoS 1 would have queued for it).

const PER_BROKER = 20;
const DEVICES = 2 * PER_BROKER;
const PREFIX = 'fleetkey:'; // the services' default --store-prefix

t.test('a KDC restarted with no grants in the store rebuilds who is connected from both brokers\' census: the next rotation reaches every live device, and only those', async (t) => {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  t.equal((await exited(spawnTs(t, 'cli/main.ts', ['init', '--dir', dir, '--dns', 'localhost', '--ip', '127.0.0.1']))).code, 0, 'fleetkey init');
  const common = ['--dir', dir, '--store', redis.url, '--log-level', 'info'];
  const brokerA = startService(t, ['broker', '--port', '0', '--metrics-port', '-1', ...common]);
  const brokerB = startService(t, ['broker', '--port', '0', '--metrics-port', '-1', ...common]);
  const provisioner = startService(t, ['provisioner', '--port', '0', ...common]);
  const [a, b, p] = await Promise.all([brokerA.started, brokerB.started, provisioner.started]);
  const [urlA, urlB] = [String(a.mqtts), String(b.mqtts)];
  const store = await openStore(redis.url, { prefix: PREFIX, identity: join(dir, IDENTITY_FILE) });
  t.teardown(() => store.close());
  const ca = readCaPems(dir);
  const api = new ApiClient({ url: String(p.url), token: readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim(), ca });
  t.teardown(() => api.close());

  const kdcArgs = ['--dir', dir, '--store', redis.url, '--broker', urlA, '--switch-after', '1'];
  const first = await startKdcProcess(t, kdcArgs);

  // Devices connect while the KDC runs, and get their keys by request: epoch 1's grants list them.
  const fleetCa = loadFleetCa(join(dir, 'ca'));
  const trust = fleetTrust(ca.join(''));
  const bundles = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => makeBundle(fleetCa, `${prefix}${i}`, { trust }));
  const onA = bundles('census-a-', PER_BROKER);
  const onB = bundles('census-b-', PER_BROKER);
  const [leaver] = bundles('census-gone-', 1);
  await recordBundles(store, [...onA, ...onB, leaver!]);
  const events: SimEvent[] = [];
  const fleetOn = (t: Test, url: string, part: typeof onA): SimFleet => {
    const sim = createFleet({
      brokerUrl: url, trust, devices: part.map(({ id, identity }) => ({ id, identity })), rate: 1, holdTelemetry: true, renew: false,
      backoff: { baseMs: 200, capMs: 2000 }, observe: (e) => events.push(e),
    });
    t.teardown(() => sim.stop(0));
    sim.start();
    return sim;
  };
  const fleets = [fleetOn(t, urlA, onA), fleetOn(t, urlB, onB)];
  const gone = fleetOn(t, urlB, [leaver!]);
  t.same(await Promise.all([...fleets, gone].map((f) => f.ready(40_000))), [true, true, true], `${DEVICES + 1} devices connected and keyed, half on each broker`);
  const epoch = (await store.currentEpoch())!.epoch;
  t.equal((await store.listGranted(epoch)).length, DEVICES + 1, `epoch ${epoch} granted by request to every device`);
  // Every ack recorded before the KDC dies, so that none waits in its session to be read at the restart.
  await until(async () => (await store.epochProgress(epoch)).acked === DEVICES + 1, 20_000, 'every ack of the first epoch recorded');

  // The KDC dies. A second replica starts meanwhile (and dies too): its census, taken with the leaver
  // still connected, must not wait in the first KDC's persistent session to be read as news later.
  first.child.kill('SIGKILL');
  await exited(first.child);
  const replica = await startKdcProcess(t, [...kdcArgs, '--name', '2']);
  await until(() => new Set(replica.lines.filter((l) => l.event === 'presence-census').map((l) => l.node)).size === 2, 20_000, 'the replica\'s census from both nodes');
  replica.child.kill('SIGKILL');
  await exited(replica.child);
  // One device leaves while no KDC runs; the store loses what would seed the restarted KDC.
  await gone.stop(0);
  await until(() => brokerB.events('disconnect').some((l) => l.clientId === leaver!.id), 20_000, `broker B saw ${leaver!.id} leave`);
  execFileSync('redis-cli', ['-p', String(redis.port), 'DEL', `${PREFIX}grants:${epoch}`]);
  t.same(await store.listGranted(epoch), [], 'the store no longer knows who holds the current epoch');

  const kdc = await startKdcProcess(t, kdcArgs);
  const census = () => kdc.lines.filter((l) => l.event === 'presence-census');
  // Measured ≈ 10 ms after kdc-started, against ≈ 150 ms from there to a rotation's targets; waited
  // for, so that the test does not depend on that margin.
  await until(() => new Set(census().map((l) => l.node)).size === 2, 20_000, 'the restarted KDC\'s census from both nodes');
  const said: string[] = [];
  const result = await rotateAndWait(api, 1, 30_000, (line) => said.push(line.trim()));
  t.comment(`rotate --wait: ${said.join(' | ')}`);
  t.match(result, { complete: true, epoch: epoch + 1, granted: DEVICES, acked: DEVICES }, `rotate --wait: epoch ${result.epoch} ${result.acked} of ${result.granted} in ${result.ms} ms (never 0 of 0)`);

  const granted = new Set(await store.listGranted(epoch + 1));
  t.equal([...onA, ...onB].filter((d) => granted.has(d.id)).length, DEVICES, 'every device on broker A and on broker B is granted the new epoch');
  t.notOk(granted.has(leaver!.id), 'the device that left before the restart is not counted');
  const keyed = new Set(events.filter((e) => e.type === 'granted' && e.epoch === epoch + 1).map((e) => e.deviceId));
  t.equal(keyed.size, DEVICES, 'and each of them received it');

  t.equal(new Set(census().map((l) => l.node)).size, 2, 'census parts from both broker nodes');
  t.same(census().map((l) => l.devices), [PER_BROKER, PER_BROKER], 'one census per node, taken now, of its own live devices: none queued from before');
  t.equal(kdc.count('rotation-failed'), 0, 'no rotation failed');
  t.same([brokerA, brokerB, provisioner].map((s: ServiceProcess) => s.child.exitCode ?? s.child.signalCode), [null, null, null], 'processes exited = 0');
});
