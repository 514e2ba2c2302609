import type { Redis } from 'ioredis';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import mqemitterRedis from 'mqemitter-redis';
import { redisConnection } from '../store/redis/url.js';

export interface ClusterBackends {
  readonly mq: unknown;
  readonly persistence: unknown;
  /** Releases the persistence's Redis connection (Aedes closes the message bus itself). Call after the broker closed. */
  destroy(): Promise<void>;
}

interface SubscriptionStore {
  addSubscriptions(client: unknown, subs: object, cb?: unknown): Promise<unknown> | undefined;
}

/**
 * Aedes calls `addSubscriptions(client, packet.subscriptions)` once per topic of a SUBSCRIBE, each time
 * with the whole list. aedes-persistence-redis then waits, per call, for its own cluster broadcast
 * keyed by the list's first topic: the waits overwrite each other and every call but the last hangs,
 * so a persistent session subscribing to two topics at once never got its SUBACK. One call per list
 * (the same array object) is made; the others share its promise.
 */
function onceForEachSubscribe<T extends SubscriptionStore>(persistence: T): T {
  const inFlight = new WeakMap<object, Promise<unknown>>();
  const add = persistence.addSubscriptions.bind(persistence);
  persistence.addSubscriptions = (client, subs, cb) => {
    if (cb !== undefined) return add(client, subs, cb);
    let pending = inFlight.get(subs);
    if (pending === undefined) {
      pending = Promise.resolve(add(client, subs));
      inFlight.set(subs, pending);
    }
    return pending;
  };
  return persistence;
}

type PrefixedEmitter = new (prefix: string, options: { subConn: Redis; pubConn: Redis }) => unknown;

/**
 * The shared message bus and session persistence that make broker processes on one Redis one broker.
 * Keys and pub/sub channels carry `<prefix>mqtt:`, so fleets with different store prefixes on one
 * Redis never see each other's messages.
 */
export async function redisClusterBackends(url: string, prefix: string): Promise<ClusterBackends> {
  const namespace = `${prefix}mqtt:`;
  // Both packages bundle ioredis 5; ioredis 6 connections speak the same protocol. The emitter's
  // connections are made here and ready before it subscribes: left to itself, its subscriber ran the
  // ready check (INFO) after entering subscriber mode and failed.
  const conn = redisConnection(url, { keyPrefix: namespace, lazyConnect: false });
  const subConn = redisConnection(url, { lazyConnect: false });
  const pubConn = redisConnection(url, { lazyConnect: false });
  await Promise.all([conn, subConn, pubConn].map((c) => new Promise<void>((resolve, reject) => {
    c.once('ready', () => resolve());
    c.once('error', reject);
  })));
  const persistence = onceForEachSubscribe(aedesPersistenceRedis({ conn: conn as never }) as SubscriptionStore);
  const Prefixed = (mqemitterRedis as unknown as { MQEmitterRedisPrefix: PrefixedEmitter }).MQEmitterRedisPrefix;
  const mq = new Prefixed(namespace, { subConn, pubConn });
  return {
    mq,
    persistence,
    // The persistence's own destroy() first unsubscribes from the message bus, which Aedes has
    // closed by then, and never returns: the connections are ours to close (again, harmlessly,
    // for those Aedes already quit).
    destroy: async () => {
      for (const c of [conn, subConn, pubConn]) c.disconnect();
    },
  };
}
