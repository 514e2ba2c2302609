import { pino, type Logger } from 'pino';
import { FleetkeyError } from '../../errors/index.js';
import type { Store } from '../types.js';
import { commandConnection, connect, publicUrl, subscriberConnection } from './connection.js';
import { RedisContext } from './context.js';
import { RedisEvents } from './events.js';
import { DEFAULT_PREFIX, Keys } from './keys.js';
import { RedisStore } from './store.js';
import { accessScripts } from './access.js';
import { certificateScripts } from './certificates.js';
import { deviceScripts } from './devices.js';
import { epochScripts } from './epochs.js';

export interface RedisStoreOptions {
  /** Prefix of every key and of the event channel (default `fleetkey:`), so fleets can share a server. */
  readonly prefix?: string;
  readonly logger?: Logger;
}

/**
 * Opens the store on `redis://[user:password@]host:port[/db]` (or `rediss://`). Resolves once both
 * connections are ready and subscribed; throws STORE_UNAVAILABLE if Redis cannot be reached.
 */
export async function openRedisStore(url: string, opts: RedisStoreOptions = {}): Promise<Store> {
  const prefix = opts.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== 'string' || prefix.length === 0 || prefix.length > 128 || /[\s*?[\]]/.test(prefix)) {
    throw new FleetkeyError('CONFIG_INVALID', `redis key prefix ${JSON.stringify(prefix)}`);
  }
  const safeUrl = publicUrl(url);
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'store', store: safeUrl, prefix });
  const commands = commandConnection(url, logger);
  const subscriber = subscriberConnection(url, logger);
  try {
    await connect(commands, safeUrl);
    await connect(subscriber, safeUrl);
    const keys = new Keys(prefix);
    const events = await RedisEvents.open(commands, subscriber, keys.events, logger);
    const ctx = new RedisContext(commands, keys, safeUrl, events);
    ctx.defineScripts({ ...deviceScripts, ...certificateScripts, ...epochScripts, ...accessScripts });
    logger.info({ event: 'store-opened' }, 'redis store opened');
    return new RedisStore(ctx, events, [commands, subscriber]);
  } catch (err) {
    commands.disconnect();
    subscriber.disconnect();
    throw err;
  }
}
