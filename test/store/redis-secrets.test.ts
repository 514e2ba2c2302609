import t from 'tap';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { openStore } from '../../store/index.js';
import { hashToken } from '../../store/secrets.js';
import { startRedis } from '../helpers/redis.js';
import { kek, newDevice, token } from './contract/fixtures.js';

const redis = await startRedis(t);

/** Every key name, DUMP payload and value in the keyspace, as one buffer. */
async function keyspace(client: Redis): Promise<Buffer> {
  const parts: Buffer[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await client.scanBuffer(cursor, 'COUNT', 1000);
    cursor = next.toString();
    for (const key of keys) {
      parts.push(key, (await client.dumpBuffer(key)) ?? Buffer.alloc(0));
      const type = await client.type(key);
      if (type === 'string') parts.push((await client.getBuffer(key))!);
      else if (type === 'hash') for (const [field, value] of Object.entries(await client.hgetallBuffer(key))) parts.push(Buffer.from(field), value);
      else if (type === 'zset') parts.push(...(await client.zrangeBuffer(key, '0', '-1')));
      else if (type === 'set') parts.push(...(await client.smembersBuffer(key)));
      else if (type === 'stream') parts.push(Buffer.from(JSON.stringify(await client.xrange(key, '-', '+'))));
      else t.fail(`unexpected key type ${type}`);
    }
  } while (cursor !== '0');
  return Buffer.concat(parts);
}

function forms(secret: Buffer): Buffer[] {
  return [secret, Buffer.from(secret.toString('hex')), Buffer.from(secret.toString('hex').toUpperCase()), Buffer.from(secret.toString('base64')), Buffer.from(secret.toString('base64url'))];
}

t.test('secrets at rest: only token hashes and sealed epoch secrets are in Redis', async (t) => {
  const store = await openStore(redis.url, { prefix: 'secrets:' });
  t.teardown(() => store.close());
  const key = kek();
  const secret = randomBytes(32);
  await store.createNextEpoch(0, secret, key, new Date());
  const device = newDevice();
  await store.registerDevices([device], 'test');
  const renewed = token();
  const other = newDevice();
  await store.registerDevices([other], 'test');
  await store.renewEnrollmentToken(other.id, renewed, new Date(Date.now() + 60_000), 'test');
  const apiSecret = token();
  await store.createApiToken({ id: 'ops', secret: apiSecret, role: 'operator' }, 'test');

  const client = new Redis(redis.url);
  t.teardown(() => client.disconnect());
  const haystack = await keyspace(client);
  t.ok(haystack.includes(hashToken(device.token)), 'control: the enrollment token hash is found');
  t.ok(haystack.includes(Buffer.from(hashToken(apiSecret))), 'control: the API token hash is found');
  for (const [what, needle] of [['epoch secret', secret], ['KEK', key]] as const) {
    for (const form of forms(needle)) t.notOk(haystack.includes(form), `${what} not found as ${form.length}-byte form`);
  }
  for (const [what, clear] of [['enrollment token', device.token], ['renewed token', renewed], ['replaced token', other.token], ['API token', apiSecret]]) {
    t.notOk(haystack.includes(Buffer.from(clear!)), `${what} not found in clear`);
  }
  t.same(await store.epochSecret(1, key), secret, 'and the store still opens the secret');
});
