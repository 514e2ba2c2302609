import { request } from 'node:http';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { initDataDir } from '../../certs/init.js';
import { startRedis } from '../helpers/redis.js';
import { exited } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { alive, startService, until } from './store-services-process.js';

// The service commands started while Redis is down wait for it (store-waiting), start by themselves
// when it comes, exit 0 on SIGTERM meanwhile, and refuse at once what no wait can fix.

function status(url: string): Promise<number> {
  return new Promise((resolve) => {
    request(url, { agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    }).on('error', () => resolve(0)).on('timeout', function (this: { destroy(): void }) {
      this.destroy();
    }).end();
  });
}

t.test('provisioner and broker started with Redis down wait, then start when it comes; broker /readyz follows the store', async (t) => {
  const redis = await startRedis(t);
  await redis.stop();
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Wait Test' });
  const store = ['--dir', dir, '--store', redis.url, '--log-level', 'info'];
  const provisioner = startService(t, ['provisioner', '--port', '0', ...store]);
  const broker = startService(t, ['broker', '--port', '0', '--metrics-port', '0', ...store]);

  await until(() => provisioner.events('store-waiting').length > 0 && broker.events('store-waiting').length > 0, 30_000, 'store-waiting from both');
  const waiting = provisioner.events('store-waiting')[0]!;
  t.equal(waiting.attempt, 1, 'the first store-waiting line is for attempt 1');
  t.equal(waiting.level, 40, 'logged at warn');
  // Let a few attempts fail (the backoff starts at 250 ms), then count the lines they made.
  await until(() => Date.now() - Number(waiting.time) > 3000, 10_000, '3 s of waiting');
  t.ok(alive(provisioner) && alive(broker), 'neither exited while Redis was down');
  t.equal(provisioner.events('store-waiting').length, 1, 'one store-waiting line in the first 30 s, not one per attempt');

  await redis.restart();
  const [p, b] = await Promise.all([provisioner.started, broker.started]);
  t.match(p.url, /^https:/, 'the provisioner started once Redis came');
  t.match(b.mqtts, /^mqtts:/, 'the broker started once Redis came');
  const reached = provisioner.events('store-reached')[0];
  t.ok(reached !== undefined && Number(reached.attempts) > 2, `store-reached after ${String(reached?.attempts)} attempts`);

  const metrics = String(b.metrics).replace(/\/metrics$/, '');
  await until(async () => (await status(`${metrics}/readyz`)) === 200, 20_000, 'broker /readyz 200');
  await redis.stop();
  const t0 = Date.now();
  await until(async () => (await status(`${metrics}/readyz`)) === 503, 20_000, 'broker /readyz 503 with Redis down');
  const one = Date.now();
  t.equal(await status(`${metrics}/readyz`), 503, 'broker /readyz 503 while the store is down');
  t.ok(Date.now() - one < 2000, `/readyz answers within the 1 s bound (${Date.now() - one} ms), not hung (first 503 after ${one - t0} ms)`);
  t.equal(await status(`${metrics}/healthz`), 200, 'broker /healthz 200: the process lives');
  await redis.restart();
  await until(async () => (await status(`${metrics}/readyz`)) === 200, 30_000, 'broker /readyz 200 again');
  t.ok(alive(provisioner) && alive(broker), 'processes exited: 0');
});

t.test('SIGTERM while waiting for the store exits 0', async (t) => {
  const redis = await startRedis(t);
  await redis.stop();
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Wait Test' });
  const provisioner = startService(t, ['provisioner', '--port', '0', '--dir', dir, '--store', redis.url, '--log-level', 'info']);
  await until(() => provisioner.events('store-waiting').length > 0, 30_000, 'store-waiting');
  provisioner.child.kill('SIGTERM');
  t.same(await exited(provisioner.child), { code: 0, signal: null }, 'exit code 0');
});

t.test('what no wait can fix is refused at once: a wrong password, a bad URL', async (t) => {
  const redis = await startRedis(t);
  const admin = new Redis(redis.url);
  await admin.config('SET', 'requirepass', 'right-password');
  admin.disconnect();
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Wait Test' });

  for (const [store, expected] of [
    [redis.url.replace('//', '//:wrong-password@'), /STORE_UNAVAILABLE[\s\S]*refused the credentials: WRONGPASS/],
    [redis.url, /STORE_UNAVAILABLE[\s\S]*refused the credentials: NOAUTH/],
    [`${redis.url}/not-a-number`, /STORE_URL_INVALID/],
  ] as const) {
    const started = Date.now();
    const service = startService(t, ['provisioner', '--port', '0', '--dir', dir, '--store', store, '--log-level', 'warn']);
    const { code } = await exited(service.child);
    t.not(code, 0, `${store.replace(/wrong-password/, '***')}: exits non-zero (${Date.now() - started} ms)`);
    t.match(JSON.stringify(service.lines) + service.stderr(), expected, 'with a message that says why');
    // An ioredis error's `command.args` hold HELLO's AUTH password: never in a log line.
    t.notMatch(JSON.stringify(service.lines) + service.stderr(), /wrong-password/, 'the password is not printed');
  }
});
