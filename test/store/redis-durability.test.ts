import { Writable } from 'node:stream';
import { Redis } from 'ioredis';
import { pino, type Logger } from 'pino';
import t from 'tap';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { startSentinel } from '../helpers/sentinel.js';
import { token } from './contract/fixtures.js';

// Durable writes (store/redis/durability.ts): on a replicated Redis an API token's creation waits for a
// replica; with the replica gone it is still applied, and logged and counted as unreplicated.

function logLines(): { logger: Logger; events: (name: string) => Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level: 'warn' }, stream), events: (name) => lines.filter((l) => l.event === name) };
}

t.test('Sentinel with a replica: durable writes are acknowledged; without one they are applied, logged and counted', async (t) => {
  const sentinel = await startSentinel(t);
  const log = logLines();
  const store = await openStore(sentinel.url, { prefix: 'durable:', logger: log.logger });
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) await store.createApiToken({ id: `t${i}`, secret: token(), role: 'operator' }, 'test');
  t.equal(store.health().unreplicatedWrites, 0, '5 durable writes, each acknowledged by the replica');

  const primary = new Redis({ host: '127.0.0.1', port: await sentinel.primaryPort() });
  t.teardown(() => primary.disconnect());
  const replicaPort = Number(/slave0:ip=[^,]+,port=(\d+)/.exec(await primary.info('replication'))?.[1]);
  const replica = new Redis({ host: '127.0.0.1', port: replicaPort });
  t.teardown(() => replica.disconnect());
  await replica.call('REPLICAOF', 'NO', 'ONE');

  const secret = token();
  await store.createApiToken({ id: 'lonely', secret, role: 'operator' }, 'test');
  t.equal((await store.findApiToken(secret))?.id, 'lonely', 'the write no replica acknowledged is applied');
  await store.revokeApiToken('t0', 'test');
  t.equal(store.health().unreplicatedWrites, 2, 'both writes after the replica left are counted');
  t.equal(log.events('store-write-unreplicated').length, 2, 'and logged (store-write-unreplicated)');
});

t.test('a Redis without replicas: durable writes do not wait', async (t) => {
  const redis = await startRedis(t);
  const store = await openStore(redis.url, { prefix: 'single:' });
  t.teardown(() => store.close());
  const started = Date.now();
  for (let i = 0; i < 20; i++) await store.createApiToken({ id: `s${i}`, secret: token(), role: 'operator' }, 'test');
  t.ok(Date.now() - started < 2000, `20 durable writes in ${Date.now() - started} ms`);
  t.equal(store.health().unreplicatedWrites, 0, 'nothing counted: durability is the server\'s own (appendfsync)');
});
