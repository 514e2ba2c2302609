import { pino, type Logger } from 'pino';
import { FleetkeyError } from '../../errors/index.js';
import { checkIdentityAtOpen } from '../identity.js';
import type { Store } from '../types.js';
import { attempt, commandConnection, connect, publicUrl, subscriberConnection } from './connection.js';
import { RedisContext } from './context.js';
import { Durability } from './durability.js';
import { RedisEvents } from './events.js';
import { IdentityWatch, markerGuard, redisIdentityBackend } from './identity.js';
import { DEFAULT_PREFIX, Keys } from './keys.js';
import { RedisStore } from './store.js';
import { accessScripts } from './access.js';
import { certificateScripts } from './certificates.js';
import { deviceScripts } from './devices.js';
import { epochScripts } from './epochs.js';
import { parseRedisUrl } from './url.js';

export interface RedisStoreOptions {
  /** Prefix of every key and of the event channel (default `fleetkey:`), so fleets can share a server. */
  readonly prefix?: string;
  readonly logger?: Logger;
  /**
   * Path of the data directory's store identity record (store/identity.ts): the store is claimed on
   * first start and refused with STORE_STATE_LOST / STORE_IDENTITY_MISMATCH when it is not the one
   * the record names. Without it nothing is claimed or refused at open.
   */
  readonly identity?: string;
  /** How often the identity marker is read while all is well (default 5000 ms) and while lost (default 1000 ms). */
  readonly identityCheckMs?: number;
  readonly identityRetryMs?: number;
  /** WAIT timeout of durable writes on a replicated Redis (default 500 ms). */
  readonly durableWaitMs?: number;
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
    const durability = new Durability(commands, parseRedisUrl(url).sentinel, logger, opts.durableWaitMs);
    await durability.refresh();
    const backend = redisIdentityBackend(commands, prefix, () => durability.replicate('claimStore'));
    const marker = await attempt('identity', () => checkIdentityAtOpen(backend, opts.identity, safeUrl, logger));
    const events = await RedisEvents.open(commands, subscriber, keys.events, logger);
    const watch = new IdentityWatch(commands, marker, {
      prefix,
      url: safeUrl,
      logger,
      recordPath: opts.identity,
      retryMs: opts.identityRetryMs ?? 1000,
      periodMs: opts.identityCheckMs ?? 5000,
      onRestored: () => events.raiseLocal({ type: 'events-resumed' }),
      onVerified: () => void durability.refresh(),
    });
    const ctx = new RedisContext(commands, keys, safeUrl, events, watch, durability);
    ctx.defineScripts({ ...deviceScripts, ...certificateScripts, ...epochScripts, ...accessScripts }, marker === undefined ? '' : markerGuard(prefix));
    logger.info({ event: 'store-opened', storeId: marker?.id, generation: marker?.generation, replicated: durability.active }, 'redis store opened');
    return new RedisStore(ctx, events, [commands, subscriber]);
  } catch (err) {
    commands.disconnect();
    subscriber.disconnect();
    throw err;
  }
}
