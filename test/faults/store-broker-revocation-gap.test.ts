import type { MqttClient } from 'mqtt';
import t from 'tap';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { faultFleet, tryConnect, until } from './broker-cluster.js';

// Broker B reaches Redis through a TCP proxy that is cut while six devices connected to B are revoked
// through the store (broker A hears it, B cannot). When the link heals, B catches up by itself: every
// revoked session on B is closed, and neither broker lets any of them back in.

t.test('a break between one broker and Redis while its devices are revoked: they are cut when it catches up, and stay out', async (t) => {
  const redis = await startRedis(t);
  const proxy = await startTcpProxy(t, redis.port);
  const fleet = await faultFleet(t);
  const store = await openStore(redis.url);
  t.teardown(() => store.close());
  const [a, b] = await Promise.all([fleet.broker(redis.url), fleet.broker(`redis://127.0.0.1:${proxy.port}`)]);

  const ids = [0, 1, 2, 3, 4, 5].map((i) => `dev-g${i}`);
  const options = new Map(await Promise.all(ids.map(async (id) => [id, await fleet.device(store, id)] as const)));
  const open = new Set<string>();
  const sessions: MqttClient[] = [];
  for (const id of ids) {
    const client = (await tryConnect(t, b.url, options.get(id)!)).client!;
    open.add(id);
    client.on('close', () => open.delete(id));
    sessions.push(client);
  }

  proxy.cut();
  for (const id of ids) await store.revokeDevice(id, 'keyCompromise', 'test');
  const duringOnB = await tryConnect(t, b.url, options.get(ids[0]!)!);
  const duringOnA = await tryConnect(t, a.url, options.get(ids[1]!)!);
  await new Promise((resolve) => setTimeout(resolve, 1500)); // a break long enough to matter; nothing waits on it
  const openDuringBreak = open.size;

  proxy.heal();
  await until(() => open.size === 0, 30_000, 'B to close the revoked sessions');

  const admitted: string[] = [];
  const codes: number[] = [];
  for (const id of ids) {
    for (const broker of [a, b]) {
      const attempt = await tryConnect(t, broker.url, options.get(id)!);
      attempt.client?.end(true);
      codes.push(attempt.code);
      if (attempt.code === 0) admitted.push(`${id}@${broker === a ? 'A' : 'B'}`);
    }
  }

  t.equal(duringOnB.code, 3, 'during the break B answers CONNACK 3: it cannot know what was revoked');
  t.equal(duringOnA.code, 5, 'A, which heard the revocation, refuses with CONNACK 5');
  t.equal(openDuringBreak, 6, 'the sessions on B stay open while B cannot know');
  t.equal(open.size, 0, 'every revoked session on B closed once B caught up');
  t.same(admitted, [], `revoked devices admitted: ${admitted.length} (of ${codes.length} reconnects to A and B)`);
  t.ok(codes.every((c) => c === 5), 'each refused as not authorized');
  t.equal(a.exitedCount() + b.exitedCount(), 0, 'broker processes exited: 0');
  t.ok(b.logs.some((l) => l.event === 'revocations-reloaded'), 'B logged revocations-reloaded');
  t.equal(b.logs.filter((l) => l.event === 'kick' && l.reason === 'revoked').length, 6, 'B logged six kicks');
});
