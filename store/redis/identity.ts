import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { FleetkeyError } from '../../errors/index.js';
import { isIdentity, writeIdentityRecord, type IdentityBackend, type StoreIdentity } from '../identity.js';

/** The identity marker: a hash `<prefix>meta` {id, generation, createdAt} (store/identity.ts). */
export function markerKey(prefix: string): string {
  return `${prefix}meta`;
}

/** Keys under the prefix that are not fleet state: the broker's bus and sessions, and short-lived claims and leases. */
const NOT_STATE = ['mqtt:', 'rekey-claim:', 'rotation-lease:'];

export function isStateKey(prefix: string, key: string): boolean {
  if (!key.startsWith(prefix)) return false;
  const rest = key.slice(prefix.length);
  return rest !== 'meta' && !NOT_STATE.some((p) => rest.startsWith(p));
}

/** The prefix as a SCAN pattern matching every key under it (the prefix holds no `*?[]`, checked at open). */
export function prefixPattern(prefix: string): string {
  return `${prefix.replace(/\\/g, '\\\\')}*`;
}

export async function readMarker(redis: Redis, prefix: string): Promise<StoreIdentity | undefined> {
  const h = await redis.hgetall(markerKey(prefix));
  const marker = { id: h.id, generation: Number(h.generation), createdAt: h.createdAt };
  return isIdentity(marker) ? marker : undefined;
}

/** Sets the marker (replacing any): restore's last step. */
export async function writeMarker(redis: Redis, prefix: string, identity: StoreIdentity): Promise<void> {
  await redis.multi().del(markerKey(prefix)).hset(markerKey(prefix), 'id', identity.id, 'generation', identity.generation, 'createdAt', identity.createdAt).exec();
}

const CLAIM = `
if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('HSET', KEYS[1], 'id', ARGV[1], 'generation', ARGV[2], 'createdAt', ARGV[3]) end
return 1`;

/** `afterClaim`: makes the claim durable (store/redis/durability.ts). */
export function redisIdentityBackend(redis: Redis, prefix: string, afterClaim: () => Promise<void> = async () => undefined): IdentityBackend {
  return {
    readMarker: () => readMarker(redis, prefix),
    hasState: async () => (await firstStateKey(redis, prefix)) !== undefined,
    claim: async (identity) => {
      await redis.eval(CLAIM, 1, markerKey(prefix), identity.id, identity.generation, identity.createdAt);
      await afterClaim();
      const marker = await readMarker(redis, prefix);
      if (marker === undefined) throw new FleetkeyError('STORE_UNAVAILABLE', 'the identity marker did not stay set');
      return marker;
    },
  };
}

export async function firstStateKey(redis: Redis, prefix: string): Promise<string | undefined> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', prefixPattern(prefix), 'COUNT', 1000);
    const found = keys.find((k) => isStateKey(prefix, k));
    if (found !== undefined) return found;
    cursor = next;
  } while (cursor !== '0');
  return undefined;
}

/**
 * Lua put before every write script of a store that has a marker: a script never writes to a store
 * whose marker is gone (emptied, or replaced by a Redis without our state), whatever the connection saw.
 */
export function markerGuard(prefix: string): string {
  const literal = `"${[...Buffer.from(markerKey(prefix))].map((b) => `\\${String(b).padStart(3, '0')}`).join('')}"`;
  return `if redis.call('EXISTS', ${literal}) == 0 then return redis.error_reply('FK:STORE_STATE_LOST the store identity marker is gone') end\n`;
}

export type WatchState = 'ok' | 'unverified' | 'lost';

export interface IdentityWatchOptions {
  readonly prefix: string;
  readonly url: string;
  readonly logger: Logger;
  /** The data directory's record, rewritten when a restore raised the generation. */
  readonly recordPath?: string | undefined;
  /** How often the marker is read while the store is lost or unverified (ms). */
  readonly retryMs: number;
  /** How often it is read while all is well, which catches a FLUSHALL without a reconnect (ms). */
  readonly periodMs: number;
  /** The marker came back (or a restore raised its generation): caches read the store again. */
  readonly onRestored: () => void;
  /** After each successful read of the marker (e.g. to look at replication again). */
  readonly onVerified?: () => void;
}

/**
 * Reads the marker after every reconnect of the command connection, and on a timer. Until the read
 * after a reconnect has come back right, operations refuse with STORE_UNAVAILABLE (so no cache
 * reloads from a store that may be empty); once the marker is found gone or changed, with
 * STORE_STATE_LOST, until it is back.
 */
export class IdentityWatch {
  private state: WatchState = 'ok';
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;

  constructor(private readonly redis: Redis, private expected: StoreIdentity | undefined, private readonly opts: IdentityWatchOptions) {
    redis.on('close', () => {
      if (this.expected !== undefined && this.state === 'ok') this.state = 'unverified';
    });
    redis.on('ready', () => void this.verify());
    this.schedule();
  }

  get identity(): StoreIdentity | undefined {
    return this.expected;
  }

  get current(): WatchState {
    return this.state;
  }

  /** What an operation must throw now, if anything. */
  refusal(): FleetkeyError | undefined {
    if (this.state === 'lost') return new FleetkeyError('STORE_STATE_LOST', `${this.opts.url}: the store identity marker is gone or changed; run \`fleetkey store restore\``);
    if (this.state === 'unverified') return new FleetkeyError('STORE_UNAVAILABLE', `${this.opts.url}: reconnected, checking the store identity`);
    return undefined;
  }

  /** A script found the marker gone. */
  noticeLost(): void {
    if (this.state !== 'lost') this.enter('lost', 'a write found the identity marker gone');
    void this.verify();
  }

  /** The marker this process now expects (after a restore it made itself). */
  adopt(identity: StoreIdentity): void {
    this.expected = identity;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  /** Reads the marker and moves the state; connection failures leave it as it is. */
  async verify(): Promise<void> {
    if (this.checking || this.closed) return;
    this.checking = true;
    try {
      const marker = await readMarker(this.redis, this.opts.prefix);
      this.judge(marker);
      this.opts.onVerified?.();
    } catch {
      // unreachable: the next 'ready' or tick reads again
    } finally {
      this.checking = false;
    }
  }

  private judge(marker: StoreIdentity | undefined): void {
    const expected = this.expected;
    if (expected === undefined) {
      if (marker !== undefined) this.expected = marker; // a store restored under a process that opened it unmarked
      this.state = 'ok';
      return;
    }
    if (marker === undefined || marker.id !== expected.id || marker.generation < expected.generation) {
      const why = marker === undefined ? 'the identity marker is gone' : `the marker is ${marker.id} generation ${marker.generation}`;
      if (this.state !== 'lost') this.enter('lost', why);
      return;
    }
    const wasLost = this.state === 'lost';
    const restored = marker.generation > expected.generation;
    this.expected = marker;
    this.state = 'ok';
    if (restored && this.opts.recordPath !== undefined) {
      writeIdentityRecord(this.opts.recordPath, marker, this.opts.url).catch((err: unknown) =>
        this.opts.logger.error({ event: 'store-identity-record-failed', err }, 'could not update the store identity record'));
    }
    if (wasLost || restored) {
      this.opts.logger.warn({ event: 'store-restored', storeId: marker.id, generation: marker.generation }, 'the store identity marker is back: the store works again and caches reload');
      this.opts.onRestored();
    }
  }

  private enter(state: WatchState, why: string): void {
    this.state = state;
    this.opts.logger.error({ event: 'store-state-lost', code: 'STORE_STATE_LOST', detail: why, storeId: this.expected?.id },
      'the store lost its state: every operation is refused until it is restored (`fleetkey store restore`)');
  }

  private schedule(): void {
    if (this.closed) return;
    const ms = this.state === 'ok' ? this.opts.periodMs : this.opts.retryMs;
    this.timer = setTimeout(() => {
      void this.verify().finally(() => this.schedule());
    }, ms);
    this.timer.unref();
  }
}
