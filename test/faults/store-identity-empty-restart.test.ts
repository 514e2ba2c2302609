import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import t from 'tap';
import { initDataDir } from '../../certs/init.js';
import { readCaPems } from '../../cli/data-dir.js';
import { isFleetkeyError } from '../../errors/index.js';
import { backupStore } from '../../store/backup.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { firstStateKey } from '../../store/redis/identity.js';
import type { Store } from '../../store/types.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { runCli as cli } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { certificate, kek, refuses, registered, token } from '../store/contract/fixtures.js';
import { alive, httpsCall, startService, until } from './store-services-process.js';

// Redis restarted EMPTY (no RDB, no AOF) under an open store and under a provisioner process: the
// store notices at the reconnect, refuses everything with STORE_STATE_LOST, nothing writes state into
// the empty Redis (no epoch 1 again, no new admin token, no revocation forgotten), and a
// `fleetkey store restore` of a backup taken before brings the same store object back, no restart.

const PREFIX = 'fleetkey:';

async function stateKeys(redis: TestRedis): Promise<string | undefined> {
  const client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
  try {
    return await firstStateKey(client, PREFIX);
  } finally {
    client.disconnect();
  }
}

t.test('an open store: fails closed at the reconnect to the emptied Redis, creates nothing, and works again after restore', async (t) => {
  const redis = await startRedis(t);
  const dir = tempDir(t, 'fleetkey-identity-dir-');
  const record = join(dir, IDENTITY_FILE);
  const store: Store = await openStore(redis.url, { prefix: PREFIX, identity: record, identityCheckMs: 1000, identityRetryMs: 200 });
  t.teardown(() => store.close());
  t.ok(existsSync(record), 'the first open claims the empty store and records it in the data dir');
  const claimed = store.health().identity!;
  t.equal(claimed.generation, 1);

  const key = kek();
  const [kept, revoked] = await registered(store, 2, 'lost');
  await store.enrollDevice(revoked!.id, revoked!.token, certificate(revoked!.id));
  await store.revokeDevice(revoked!.id, 'keyCompromise', 'test');
  await store.createNextEpoch(0, randomBytes(32), key, new Date());
  await store.createNextEpoch(1, randomBytes(32), key, new Date());
  const admin = token();
  await store.createApiToken({ id: 'admin', secret: admin, role: 'admin' }, 'test');
  const file = join(dir, 'before.jsonl');
  const backup = await backupStore(store, file);
  t.equal(backup.header.storeId, claimed.id, 'the backup carries the store id');

  let resumed = 0;
  store.on('events-resumed', () => (resumed += 1));
  const restarted = Date.now();
  await redis.restartFrom('empty');
  await until(() => store.health().state === 'lost', 10_000, 'the store to see its state lost');
  const detectedMs = Date.now() - restarted;
  t.ok(detectedMs < 5000, `lost state detected ${detectedMs} ms after the empty restart`);

  const attempts: [string, () => Promise<unknown>][] = [
    ['listRevocations', () => store.listRevocations()],
    ['currentEpoch', () => store.currentEpoch()],
    ['createNextEpoch from 0', () => store.createNextEpoch(0, randomBytes(32), key, new Date())],
    ['findApiToken', () => store.findApiToken(admin)],
    ['createApiToken', () => store.createApiToken({ id: 'admin2', secret: token(), role: 'admin' }, 'test')],
    ['registerDevices', () => store.registerDevices([{ id: kept!.id, token: token(), tokenExpiresAt: new Date(Date.now() + 60_000) }], 'test')],
    ['getDevice of the revoked', () => store.getDevice(revoked!.id)],
    ['nextCrlNumber', () => store.nextCrlNumber()],
  ];
  for (let round = 0; round < 3; round++) {
    for (const [what, attempt] of attempts) {
      const err = await attempt().then(() => undefined, (e: unknown) => e);
      if (!isFleetkeyError(err, 'STORE_STATE_LOST')) t.fail(`${what}: expected STORE_STATE_LOST, got ${String(err)}`);
    }
  }
  t.pass(`${3 * attempts.length} operations refused with STORE_STATE_LOST`);
  t.equal(await stateKeys(redis), undefined, 'no fleet state was written into the empty Redis');

  const reopened = await openStore(redis.url, { prefix: PREFIX, identity: record }).then(() => 'opened', (e: unknown) => e);
  t.ok(isFleetkeyError(reopened, 'STORE_STATE_LOST'), 'a process starting now is refused at open with STORE_STATE_LOST');

  const restore = await cli(t, ['store', 'restore', file, '--store', redis.url, '--dir', dir, '--json']);
  t.equal(restore.code, 0, `store restore exits 0: ${restore.stderr}`);
  t.match(restore.stderr, /restoring \d+ records/, 'restore says what it does on stderr');
  t.equal((JSON.parse(restore.stdout) as { identity: { generation: number } }).identity.generation, 2, 'the restored store is generation 2');

  await until(() => store.health().state === 'ok', 10_000, 'the store to work again');
  await until(() => resumed > 0, 5000, 'events-resumed after the restore');
  t.equal(store.health().identity?.generation, 2, 'the same store object follows the new generation');
  t.equal((await store.currentEpoch())?.epoch, 2, 'the epoch is 2 again, not 1');
  t.equal((await store.createNextEpoch(2, randomBytes(32), key, new Date()))?.epoch, 3, 'the next rotation makes epoch 3');
  t.equal((await store.getDevice(revoked!.id))?.status, 'revoked', 'the revoked device is revoked');
  t.equal((await store.findApiToken(admin))?.id, 'admin', 'the admin token works again');
  t.equal((JSON.parse(readFileSync(record, 'utf8')) as { generation: number }).generation, 2, 'the data dir record says generation 2');
});

t.test('a store from before markers is adopted with its state; a marker of another fleet is refused at open', async (t) => {
  const redis = await startRedis(t);
  const dir = tempDir(t);
  const plain = await openStore(redis.url, { prefix: PREFIX });
  const [device] = await registered(plain, 1);
  await plain.close();
  const adopted = await openStore(redis.url, { prefix: PREFIX, identity: join(dir, IDENTITY_FILE) });
  t.equal((await adopted.getDevice(device!.id))?.id, device!.id, 'the state written before markers is kept');
  t.equal(adopted.health().identity?.generation, 1, 'and marked as generation 1');
  await adopted.close();
  t.ok(existsSync(join(dir, IDENTITY_FILE)), 'the data dir records it');

  const other = tempDir(t);
  const mine = await openStore(redis.url, { prefix: 'mine:', identity: join(other, IDENTITY_FILE) });
  await mine.close();
  const theirs = tempDir(t);
  const claimed = await openStore(redis.url, { prefix: 'theirs:', identity: join(theirs, IDENTITY_FILE) });
  await claimed.close();
  await refuses(t, openStore(redis.url, { prefix: 'theirs:', identity: join(other, IDENTITY_FILE) }), 'STORE_IDENTITY_MISMATCH', 'another fleet\'s store');
  const file = await openStore(`file:${join(other, 'store')}`, { identity: join(theirs, IDENTITY_FILE) }).then(() => 'opened', (e: unknown) => e);
  t.ok(isFleetkeyError(file, 'STORE_STATE_LOST'), 'a fresh file: store for a data dir that used another store is refused too');
});

const call = (url: string, ca: string[], path: string, bearer: string) => httpsCall(url, ca, 'GET', path, { authorization: `Bearer ${bearer}` });

t.test('a provisioner process: refuses with STORE_STATE_LOST, mints no admin token, and serves again after restore', async (t) => {
  const redis = await startRedis(t);
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Lost Store Test' });
  const ca = readCaPems(dir);
  const provisioner = startService(t, ['provisioner', '--port', '0', '--dir', dir, '--store', redis.url, '--log-level', 'info']);
  const url = String((await provisioner.started).url);
  const adminToken = readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim();
  const added = await cli(t, ['devices', 'add', 'lost-1', 'lost-2', '--dir', dir, '--json']);
  t.equal(added.code, 0, `devices add: ${added.stderr}`);
  const revoke = await cli(t, ['revoke', 'lost-1', '--reason', 'keyCompromise', '--dir', dir, '--json']);
  t.equal(revoke.code, 0, `revoke: ${revoke.stderr}`);
  const file = join(dir, '..', 'backup.jsonl');
  const backup = await cli(t, ['store', 'backup', '--store', redis.url, '--dir', dir, '--out', file]);
  t.equal(backup.code, 0, `backup: ${backup.stderr}`);

  await redis.restartFrom('empty');
  await until(async () => (await call(url, ca, '/v1/devices/lost-1', adminToken)).code === 'STORE_STATE_LOST', 15_000, 'STORE_STATE_LOST from REST');
  const answers = [];
  for (let i = 0; i < 10; i++) answers.push(await call(url, ca, i % 2 === 0 ? '/v1/devices/lost-1' : '/v1/devices', adminToken));
  t.same([...new Set(answers.map((a) => `${a.status} ${a.code}`))], ['503 STORE_STATE_LOST'], '10 REST calls: 503 STORE_STATE_LOST each');
  await until(() => provisioner.events('store-state-lost').length > 0, 5000, 'the store-state-lost log line');
  t.equal(await stateKeys(redis), undefined, 'no fleet state (no new admin token, no device) was written into the empty Redis');
  t.equal(readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim(), adminToken, 'the admin token file is unchanged');

  const restore = await cli(t, ['store', 'restore', file, '--store', redis.url, '--dir', dir, '--json']);
  t.equal(restore.code, 0, `restore: ${restore.stderr}`);
  await until(async () => (await call(url, ca, '/v1/devices/lost-1', adminToken)).status === 200, 15_000, 'REST to answer again');
  const device = JSON.parse((await call(url, ca, '/v1/devices/lost-1', adminToken)).body) as { status: string };
  t.equal(device.status, 'revoked', 'lost-1 is still revoked');
  t.ok(alive(provisioner), 'the provisioner never exited');
});
