import type { Redis, RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { catalogue, FleetkeyError, type ErrorCode } from '../../errors/index.js';
import { parseRedisUrl, redisConnection } from './url.js';

/** A command that gets no answer within this time fails (a hung or unreachable server). */
const COMMAND_TIMEOUT_MS = 2000;
const CONNECT_TIMEOUT_MS = 2000;
const MAX_RECONNECT_DELAY_MS = 1000;

function reconnectDelay(times: number): number {
  return Math.min(50 * 2 ** times, MAX_RECONNECT_DELAY_MS) + Math.floor(Math.random() * 100);
}

/**
 * The command connection never queues: while Redis is unreachable a command fails at once, a command in
 * flight when the connection drops fails at the first disconnect, and none is replayed after reconnecting
 * (a write whose outcome is unknown must not run twice). Every multi-key write is one Lua script or MULTI,
 * so a failure never leaves half of it applied. A write that timed out against a hung server may still be
 * applied, whole, once the server resumes: STORE_UNAVAILABLE means "not known to have happened".
 */
export function commandConnection(url: string, logger: Logger): Redis {
  return watch(redisConnection(url, {
    ...common,
    connectionName: 'fleetkey-store',
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: COMMAND_TIMEOUT_MS,
  }), 'command', logger);
}

/** Pub/sub needs a connection of its own; ioredis re-subscribes it after every reconnect. */
export function subscriberConnection(url: string, logger: Logger): Redis {
  return watch(redisConnection(url, { ...common, connectionName: 'fleetkey-events', autoResubscribe: true }), 'subscriber', logger);
}

const common: RedisOptions = {
  lazyConnect: true,
  connectTimeout: CONNECT_TIMEOUT_MS,
  retryStrategy: reconnectDelay,
};

function watch(redis: Redis, role: string, logger: Logger): Redis {
  let down = false;
  redis.on('error', (err: Error) => {
    // The message only: an ioredis error carries its command, and a refused login's holds the password.
    if (!down) logger.warn({ event: 'store-connection-error', role, error: err.message, code: (err as NodeJS.ErrnoException).code }, 'redis connection error');
    down = true;
  });
  redis.on('ready', () => {
    if (down) logger.info({ role }, 'redis connection restored');
    down = false;
  });
  return redis;
}

/** Connects or throws STORE_UNAVAILABLE; a failed first connect does not keep retrying in the background. */
export async function connect(redis: Redis, url: string): Promise<void> {
  try {
    await redis.connect();
  } catch (err) {
    redis.disconnect();
    throw new FleetkeyError('STORE_UNAVAILABLE', `cannot connect to ${url}`, { cause: err });
  }
}

/** Runs Redis work, turning every failure into a FleetkeyError. */
export async function attempt<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw storeError(what, err);
  }
}

/** Scripts refuse with `FK:<CODE> <detail>`. */
const REFUSAL = /^FK:([A-Z][A-Z0-9_]+)(?: ([\s\S]*))?$/;
const SERVER_UNAVAILABLE = /^(LOADING|BUSY|MASTERDOWN|READONLY|TRYAGAIN|CLUSTERDOWN|NOREPLICAS)\b/;

export function storeError(what: string, err: unknown): FleetkeyError {
  if (err instanceof FleetkeyError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (err instanceof Error && err.name === 'ReplyError') {
    const refusal = REFUSAL.exec(message);
    if (refusal !== null && refusal[1]! in catalogue) return new FleetkeyError(refusal[1] as ErrorCode, refusal[2]);
    if (!SERVER_UNAVAILABLE.test(message)) return new FleetkeyError('INTERNAL', `${what}: ${message}`, { cause: err });
  }
  return new FleetkeyError('STORE_UNAVAILABLE', `${what}: ${message}`, { cause: err });
}

/** The URL without credentials, for `Store.url` and logs. */
export function publicUrl(url: string): string {
  return parseRedisUrl(url).publicUrl;
}
