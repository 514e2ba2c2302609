import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { startRedis } from '../helpers/redis.js';
import { certificate, kek, newDevice, refuses } from './contract/fixtures.js';

const redis = await startRedis(t);

async function open(prefix?: string): Promise<Store> {
  const store = await openStore(redis.url, prefix === undefined ? {} : { prefix });
  t.teardown(() => store.close());
  return store;
}

async function allKeys(): Promise<string[]> {
  const client = new Redis(redis.url);
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await client.scan(cursor, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
    return keys;
  } finally {
    client.disconnect();
  }
}

t.test('two fleets with different prefixes share one Redis without seeing each other', async (t) => {
  const [a, b, fallback] = await Promise.all([open('fleet-a:'), open('fleet-b:'), open()]);
  const inA = newDevice('shared-id');
  const inB = newDevice('shared-id');
  await a.registerDevices([inA], 'test');
  await b.registerDevices([inB], 'test');
  await fallback.registerDevices([newDevice('default-1')], 'test');

  await refuses(t, a.enrollDevice('shared-id', inB.token, certificate('shared-id')), 'ENROLLMENT_REFUSED', "fleet b's token in fleet a");
  await a.enrollDevice('shared-id', inA.token, certificate('shared-id'));
  t.equal((await a.getDevice('shared-id'))?.status, 'active');
  t.equal((await b.getDevice('shared-id'))?.status, 'registered', 'the same id in the other fleet is untouched');
  t.same(await b.countDevices(), { registered: 1, active: 0, revoked: 0 });
  t.equal(await b.getDevice('default-1'), undefined);

  const key = kek();
  t.equal((await a.createNextEpoch(0, randomBytes(32), key, new Date()))?.epoch, 1);
  t.equal(await b.currentEpoch(), undefined, 'epochs are per fleet');
  t.equal((await b.createNextEpoch(0, randomBytes(32), key, new Date()))?.epoch, 1, 'fleet b makes its own epoch 1');
  t.same((await b.readAudit({})).entries.map((e) => e.action), ['device.register'], 'audit logs are per fleet');

  const heardByA: string[] = [];
  a.on('ca-changed', () => heardByA.push('ca-changed'));
  let heardByB = 0;
  b.on('ca-changed', () => (heardByB += 1));
  await b.publish({ type: 'ca-changed' });
  await new Promise((resolve) => setTimeout(resolve, 150));
  t.equal(heardByB, 1, 'fleet b hears its event');
  t.same(heardByA, [], 'fleet a does not');

  const keys = await allKeys();
  t.ok(keys.length > 0);
  t.same(keys.filter((k) => !/^(fleet-a:|fleet-b:|fleetkey:)/.test(k)), [], 'every key is under a fleet prefix');
  t.ok(keys.some((k) => k.startsWith('fleetkey:device:default-1')), 'the default prefix is fleetkey:');
});

t.test('a prefix that could not be a key namespace is refused', async (t) => {
  for (const prefix of ['', 'a b:', 'fleet*:']) await refuses(t, openStore(redis.url, { prefix }), 'CONFIG_INVALID', JSON.stringify(prefix));
});
