import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { ApiClient } from '../../cli/api-client.js';
import { readCaPems, readServiceIdentity } from '../../cli/data-dir.js';
import { rotateAndWait } from '../../cli/demo/rotate.js';
import { createConsumer } from '../../consumer/index.js';
import { createFleet, fleetTrust, type SimEvent, type SimFleet } from '../../device-sim/index.js';
import { testLogger } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * docker-compose.yml as plain processes: redis-server, `fleetkey init`, two brokers on one Redis
 * store (a cluster), a provisioner and a KDC (connected to broker A), each its own `fleetkey`
 * process; devices split across the brokers and a consumer on broker B, in this process.
 */

/** Starts a long-running `fleetkey` service with --json and resolves with its "started" line (killed in teardown). */
async function service(t: Test, args: string[]): Promise<Record<string, unknown>> {
  const child = spawnTs(t, 'cli/main.ts', [...args, '--json', '--log-level', 'warn']);
  let stderr = '';
  let stdout = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  return new Promise((resolve, reject) => {
    onLine(child, (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        if (typeof parsed.service === 'string') resolve(parsed);
      } catch {
        // a log line
      }
    });
    void exited(child).then(({ code }) => reject(new Error(`fleetkey ${args[0]} exited (${code}): ${stderr}`)));
    setTimeout(() => reject(new Error(`fleetkey ${args[0]} did not start within 30 s: ${stderr}${stdout}`)), 30_000).unref();
  });
}

async function until(check: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('the compose topology as processes: telemetry across brokers, a rotation acked by all, a revocation cut on the other broker', async (t) => {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  const init = spawnTs(t, 'cli/main.ts', ['init', '--dir', dir, '--dns', 'localhost', '--ip', '127.0.0.1']);
  t.equal((await exited(init)).code, 0, 'fleetkey init');

  const store = ['--dir', dir, '--store', redis.url];
  const [brokerA, brokerB] = await Promise.all([
    service(t, ['broker', '--port', '0', '--metrics-port', '-1', ...store]),
    service(t, ['broker', '--port', '0', '--metrics-port', '-1', ...store]),
  ]);
  const provisioner = await service(t, ['provisioner', '--port', '0', ...store]);
  const a = String(brokerA.mqtts);
  const b = String(brokerB.mqtts);
  await service(t, ['kdc', '--broker', a, '--switch-after', '1', '--metrics-port', '-1', ...store]);
  t.not(a, b, `two brokers: ${a}, ${b}`);

  const ca = readCaPems(dir);
  const api = new ApiClient({ url: String(provisioner.url), token: readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim(), ca });
  t.teardown(() => api.close());

  const opened = new Map<string, number>();
  const consumer = await createConsumer({ broker: { url: b, ...readServiceIdentity(dir, 'consumer') }, logger: testLogger() }, (m) => {
    opened.set(m.deviceId, (opened.get(m.deviceId) ?? 0) + 1);
  });
  t.teardown(() => consumer.close());

  const { devices } = await api.json<{ devices: { id: string; token: string }[] }>('POST', '/v1/devices', { count: 10, prefix: 'topo-' });
  const events: SimEvent[] = [];
  const trust = fleetTrust(ca.join(''));
  const fleetOn = (url: string, part: typeof devices): SimFleet => {
    const sim = createFleet({
      brokerUrl: url, trust, est: { url: String(provisioner.url), ca }, devices: part, rate: 2, renew: false,
      grantTimeoutMs: 3000, backoff: { baseMs: 200, capMs: 2000 }, observe: (e) => events.push(e),
    });
    t.teardown(() => sim.stop(500));
    sim.start();
    return sim;
  };
  const onA = fleetOn(a, devices.slice(0, 5));
  const onB = fleetOn(b, devices.slice(5));
  const [readyA, readyB] = await Promise.all([onA.ready(40_000), onB.ready(40_000)]);
  t.ok(readyA && readyB, 'every device enrolled over EST, connected and keyed on its broker');

  await until(() => devices.every((d) => (opened.get(d.id) ?? 0) > 0), 15_000, 'telemetry of every device at the consumer on broker B');
  t.pass('the consumer on broker B opens telemetry from devices on both brokers');

  const rotation = await rotateAndWait(api, 1, 30_000, () => undefined);
  t.match(rotation, { complete: true, granted: 10, acked: 10 }, `rotation to epoch ${rotation.epoch} acked by all devices in ${rotation.ms} ms`);

  const victim = devices[7]!.id; // on broker B; the KDC and the revoking provisioner are elsewhere
  const started = Date.now();
  await api.json('POST', `/v1/devices/${victim}/revoke`, { reason: 'keyCompromise' });
  await until(() => events.some((e) => e.type === 'disconnected' && e.deviceId === victim), 5000, `${victim} cut off`);
  const cutMs = Date.now() - started;
  t.ok(cutMs <= 1000, `${victim} on broker B cut ${cutMs} ms after the revocation`);
  const others = [...onA.devices, ...onB.devices].filter((d) => d.id !== victim);
  t.ok(others.every((d) => d.stage === 'online'), 'the other devices stay connected');
  t.equal(consumer.stats().undecryptable, 0, 'nothing undecryptable');
});
