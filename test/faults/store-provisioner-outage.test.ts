import { join } from 'node:path';
import t from 'tap';
import { createCsr } from '../../certs/csr-build.js';
import { initDataDir } from '../../certs/init.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { readCaPems } from '../../cli/data-dir.js';
import { startRedis } from '../helpers/redis.js';
import { exited, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { alive, httpsCall as call, startService, until } from './store-services-process.js';

// A `fleetkey provisioner` on Redis, Redis stopped and started again: EST, REST and /readyz answer
// 503 with Retry-After within a second, CLI commands that are safe to repeat wait and then succeed,
// one that is not fails at once, and everything works again with no restart.

/** A `fleetkey` CLI command as a child: its exit, stdout and stderr. */
function cli(t: Parameters<typeof spawnTs>[0], args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawnTs(t, 'cli/main.ts', args, env);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  return { child, done: exited(child), stdout: () => stdout, stderr: () => stderr };
}

t.test('Redis down: 503 + Retry-After fast on EST, REST and /readyz; the CLI retries what is safe; all recovers without restart', async (t) => {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Outage Test' });
  const ca = readCaPems(dir);
  const provisioner = startService(t, ['provisioner', '--port', '0', '--dir', dir, '--store', redis.url, '--log-level', 'warn', '--device-burst', '100', '--ip-burst', '1000']);
  const url = String((await provisioner.started).url);
  const client = ['--dir', dir, '--json'];

  const added = cli(t, ['devices', 'add', 'out-1', 'out-2', 'out-3', ...client]);
  t.equal((await added.done).code, 0, `devices add: ${added.stderr()}`);
  const tokens = new Map((JSON.parse(added.stdout()) as { devices: { id: string; token: string }[] }).devices.map((d) => [d.id, d.token]));
  const enroll = (id: string) => call(url, ca, 'POST', '/.well-known/est/simpleenroll', {
    authorization: `Basic ${Buffer.from(`${id}:${tokens.get(id)!}`).toString('base64')}`, 'content-type': 'application/pkcs10',
  }, createCsr(generateDeviceKey(), id).toString('base64'));
  t.equal((await enroll('out-1')).status, 200, 'out-1 enrolls before the outage');

  await redis.stop();

  const ests = [];
  for (let i = 0; i < 10; i++) ests.push(await enroll('out-2'));
  t.same([...new Set(ests.map((a) => a.status))], [503], 'EST simpleenroll: 503 every time');
  t.same([...new Set(ests.map((a) => a.code))], ['STORE_UNAVAILABLE'], 'code STORE_UNAVAILABLE');
  t.ok(ests.every((a) => /^[2-4]$/.test(a.retryAfter ?? '')), `Retry-After 2-4 s on each: ${ests.map((a) => a.retryAfter).join(',')}`);
  const slowest = Math.max(...ests.map((a) => a.ms));
  t.ok(slowest < 1000, `EST answers within 1 s during the outage (slowest ${slowest} ms)`);

  const ready = await call(url, ca, 'GET', '/readyz', {});
  t.equal(ready.status, 503, '/readyz 503');
  t.match(ready.retryAfter, /^[2-4]$/, '/readyz carries Retry-After');
  t.ok(ready.ms < 1500, `/readyz answers within ~1 s (${ready.ms} ms)`);

  const token = (await import('node:fs')).readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim();
  const rest = await call(url, ca, 'GET', '/v1/devices', { authorization: `Bearer ${token}` });
  t.equal(rest.status, 503, 'REST GET /v1/devices 503');
  t.match(rest.retryAfter, /^[2-4]$/, 'REST carries Retry-After');

  t.equal((await call(url, ca, 'GET', '/v1/crl', {})).status, 200, 'the CRL is still served (from memory)');

  // CLI commands started during the outage.
  const list = cli(t, ['devices', 'list', ...client]);
  const revoke = cli(t, ['revoke', 'out-1', '--reason', 'keyCompromise', ...client]);
  const register = cli(t, ['devices', 'add', 'out-4', ...client]);
  const registered = await register.done;
  t.not(registered.code, 0, 'devices add (not safe to repeat) fails at once');
  t.match(register.stdout(), /STORE_UNAVAILABLE/, 'with STORE_UNAVAILABLE');
  t.notMatch(register.stderr(), /retrying/, 'and no retry');
  await until(() => /store unavailable at the provisioner; retrying in [2-4] s \(attempt 2\)/.test(list.stderr()) && /retrying/.test(revoke.stderr()), 30_000, 'the CLI says what it waits for');
  t.equal(list.stdout(), '', 'stdout stays empty while waiting (--json)');
  t.ok(list.child.exitCode === null && revoke.child.exitCode === null, 'list and revoke are still waiting');

  await redis.restart();
  const [listed, revoked] = await Promise.all([list.done, revoke.done]);
  t.equal(listed.code, 0, `devices list succeeds after the outage: ${list.stderr()}`);
  t.equal((JSON.parse(list.stdout()) as { devices: unknown[] }).devices.length, 3, 'and lists the 3 devices');
  t.equal(revoked.code, 0, `revoke succeeds after the outage: ${revoke.stderr()}`);
  t.match(JSON.parse(revoke.stdout()), { deviceId: 'out-1', status: 'revoked' }, 'out-1 revoked');

  await until(async () => (await call(url, ca, 'GET', '/readyz', {})).status === 200, 30_000, '/readyz 200 again');
  t.equal((await enroll('out-2')).status, 200, 'EST enrollment works again, no restart');
  t.ok(alive(provisioner), 'provisioner exited: 0');
});

t.test('the CLI gives up after FLEETKEY_RETRY_SECONDS', async (t) => {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Outage Test' });
  const provisioner = startService(t, ['provisioner', '--port', '0', '--dir', dir, '--store', redis.url, '--log-level', 'warn']);
  await provisioner.started;
  await redis.stop();
  const started = Date.now();
  const list = cli(t, ['devices', 'list', '--dir', dir, '--json'], { ...process.env, FLEETKEY_RETRY_SECONDS: '5' });
  const { code } = await list.done;
  const took = Date.now() - started;
  t.not(code, 0, 'fails');
  t.match(JSON.parse(list.stdout()), { error: { code: 'STORE_UNAVAILABLE' } }, 'with the last refusal');
  t.match(list.stderr(), /retrying/, 'after retrying');
  t.ok(took < 15_000, `within the budget (${took} ms for 5 s)`);
});
