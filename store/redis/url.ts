import { Redis, type RedisOptions } from 'ioredis';
import { FleetkeyError } from '../../errors/index.js';

/**
 * The Redis a store URL names, as ioredis options. Three forms:
 *   redis://[user:password@]host:port[/db]      one server
 *   rediss://…                                  the same over TLS
 *   redis+sentinel://[user:password@]host:port[,host:port…]/<master name>[/db]
 *                                               the primary that Sentinel names; ioredis follows a failover
 * With Sentinel, the URL's password is the data nodes' and the sentinels' alike.
 */
export interface RedisTarget {
  readonly options: RedisOptions;
  /** The URL without credentials, for logs and `Store.url`. */
  readonly publicUrl: string;
  readonly sentinel: boolean;
}

const SENTINEL = /^redis\+sentinel:\/\/(?:([^@/]*)@)?([^/]+)\/([^/]+)(?:\/(\d+))?\/?$/;

export function parseRedisUrl(url: string): RedisTarget {
  if (typeof url !== 'string') throw new FleetkeyError('STORE_URL_INVALID', 'no Redis URL');
  const sentinel = SENTINEL.exec(url);
  if (sentinel !== null) {
    const [, auth, hosts, name, db] = sentinel;
    const sentinels = hosts!.split(',').map((hostPort) => {
      const m = /^(\[[^\]]+\]|[^:,]+)(?::(\d+))?$/.exec(hostPort);
      if (m === null) throw new FleetkeyError('STORE_URL_INVALID', `bad sentinel address ${hostPort}`);
      return { host: m[1]!.replace(/^\[|\]$/g, ''), port: m[2] === undefined ? 26379 : Number(m[2]) };
    });
    const { username, password } = credentials(auth);
    return {
      sentinel: true,
      publicUrl: `redis+sentinel://${hosts}/${name}${db === undefined ? '' : `/${db}`}`,
      options: {
        sentinels,
        name: decodeURIComponent(name!),
        db: db === undefined ? 0 : Number(db),
        ...(username === undefined ? {} : { username }),
        ...(password === undefined ? {} : { password, sentinelPassword: password }),
      },
    };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch (err) {
    throw new FleetkeyError('STORE_URL_INVALID', 'the Redis URL does not parse', { cause: err });
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') throw new FleetkeyError('STORE_URL_INVALID', `unsupported scheme ${parsed.protocol}`);
  const db = parsed.pathname.replace(/^\/|\/$/g, '');
  if (db !== '' && !/^\d+$/.test(db)) throw new FleetkeyError('STORE_URL_INVALID', `database "${db}" is not a number`);
  const username = parsed.username === '' ? undefined : decodeURIComponent(parsed.username);
  const password = parsed.password === '' ? undefined : decodeURIComponent(parsed.password);
  const safe = new URL(url);
  safe.username = '';
  safe.password = '';
  return {
    sentinel: false,
    publicUrl: safe.toString().replace(/\/$/, ''),
    options: {
      host: parsed.hostname.replace(/^\[|\]$/g, ''),
      port: parsed.port === '' ? 6379 : Number(parsed.port),
      db: db === '' ? 0 : Number(db),
      ...(username === undefined ? {} : { username }),
      ...(password === undefined ? {} : { password }),
      ...(parsed.protocol === 'rediss:' ? { tls: {} } : {}),
    },
  };
}

function credentials(auth: string | undefined): { username?: string; password?: string } {
  if (auth === undefined || auth === '') return {};
  const colon = auth.indexOf(':');
  if (colon < 0) return { password: decodeURIComponent(auth) };
  const username = decodeURIComponent(auth.slice(0, colon));
  return { ...(username === '' ? {} : { username }), password: decodeURIComponent(auth.slice(colon + 1)) };
}

/** True for every URL form `parseRedisUrl` takes. */
export function isRedisUrl(url: string): boolean {
  return /^(rediss?|redis\+sentinel):\/\//.test(url);
}

/** Rounds over every sentinel a first connect makes before it fails (reconnects go on for good). */
const FIRST_CONNECT_SENTINEL_ROUNDS = 3;

/**
 * A connection to what `url` names, with `extra` options on top; lazyConnect unless `extra` says otherwise.
 * With Sentinel, ioredis's default asks the sentinels again forever inside one connect, so a first
 * connect with none reachable never settled: it now fails after a few rounds, as a connect to one
 * server does. Once connected, a reconnect keeps asking until a sentinel answers (failing it there
 * would end the connection for good).
 */
export function redisConnection(url: string, extra: RedisOptions = {}): Redis {
  const target = parseRedisUrl(url);
  let connected = false;
  const sentinelRetryStrategy = (times: number): number | null =>
    (connected || times <= FIRST_CONNECT_SENTINEL_ROUNDS ? Math.min(times * 100, 1000) : null);
  const redis = new Redis({ ...target.options, lazyConnect: true, ...(target.sentinel ? { sentinelRetryStrategy } : {}), ...extra });
  redis.once('ready', () => {
    connected = true;
  });
  return redis;
}
