import type { Redis, RedisOptions } from 'ioredis';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import mqemitterRedis from 'mqemitter-redis';
import { pino, type Logger } from 'pino';
import { redisConnection } from '../store/redis/url.js';
import { holdWhileRedisAway, type Emitter, type HoldOptions } from './held-emits.js';

export interface ClusterBackends {
  readonly mq: unknown;
  readonly persistence: unknown;
  /** Where the cluster's connections log their outages; createBroker hands it its logger. */
  logTo(logger: Logger): void;
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

type PrefixedEmitter = new (prefix: string, options: { subConn: Redis; pubConn: Redis }) => Emitter & { state: { on(event: 'error', listener: (err: Error) => void): void } };

const MAX_RECONNECT_DELAY_MS = 1000;

/** Every broker reconnects within about a second of Redis coming back, so held messages wait little. */
function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** times, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);
}

/** Logs the first error of an outage and the return, not every reconnect attempt. */
function watch(connection: Redis, role: string, log: () => Logger): void {
  let down = false;
  connection.on('error', (err: Error) => {
    if (!down) log().warn({ event: 'cluster-redis-down', role, err: err.message }, 'cluster Redis connection lost; reconnecting');
    down = true;
  });
  connection.on('ready', () => {
    if (down) log().info({ event: 'cluster-redis-restored', role }, 'cluster Redis connection restored');
    down = false;
  });
}

/**
 * The shared message bus and session persistence that make broker processes on one Redis one broker.
 * Keys and pub/sub channels carry `<prefix>mqtt:`, so fleets with different store prefixes on one
 * Redis never see each other's messages.
 */
export async function redisClusterBackends(url: string, prefix: string, hold: HoldOptions = {}): Promise<ClusterBackends> {
  const namespace = `${prefix}mqtt:`;
  let logger: Logger = pino({ level: 'silent' });
  const log = () => logger;
  // While Redis is away: the persistence's and the subscriber's commands wait for it (no retry limit),
  // the publisher's fail at once and come back to holdWhileRedisAway, which holds the messages.
  const common: RedisOptions = { lazyConnect: false, retryStrategy: reconnectDelay, maxRetriesPerRequest: null };
  // Both packages bundle ioredis 5; ioredis 6 connections speak the same protocol. The emitter's
  // connections are made here and ready before it subscribes: left to itself, its subscriber ran the
  // ready check (INFO) after entering subscriber mode and failed.
  const conn = redisConnection(url, { ...common, keyPrefix: namespace });
  const subConn = redisConnection(url, common);
  const pubConn = redisConnection(url, { ...common, enableOfflineQueue: false, autoResendUnfulfilledCommands: false, maxRetriesPerRequest: 0 });
  const connections = [conn, subConn, pubConn];
  try {
    await Promise.all(connections.map((c) => new Promise<void>((resolve, reject) => {
      c.once('ready', () => resolve());
      // `on`, not `once`: a second error before disconnect() takes effect must find a listener too.
      c.on('error', reject);
    })));
  } catch (err) {
    for (const c of connections) c.disconnect();
    throw err;
  }
  watch(conn, 'persistence', log);
  watch(subConn, 'bus-subscriber', log);
  watch(pubConn, 'bus-publisher', log);
  const persistence = onceForEachSubscribe(aedesPersistenceRedis({ conn: conn as never }) as SubscriptionStore);
  const Prefixed = (mqemitterRedis as unknown as { MQEmitterRedisPrefix: PrefixedEmitter }).MQEmitterRedisPrefix;
  const mq = new Prefixed(namespace, { subConn, pubConn });
  // mqemitter-redis re-emits every connection error here; with no listener the process would exit.
  mq.state.on('error', () => undefined);
  const { joined, release } = holdWhileRedisAway(mq, pubConn, subConn, namespace, log, hold);
  await joined;
  return {
    mq,
    persistence,
    logTo: (l) => (logger = l),
    // The persistence's own destroy() first unsubscribes from the message bus, which Aedes has
    // closed by then, and never returns: the connections are ours to close (again, harmlessly,
    // for those Aedes already quit).
    destroy: async () => {
      release();
      for (const c of connections) c.disconnect();
    },
  };
}
