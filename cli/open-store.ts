import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import { IDENTITY_FILE } from '../store/identity.js';
import { openStore, redact } from '../store/index.js';
import type { Store } from '../store/types.js';

/** Waits between attempts: doubling from the first up to the cap, each with ±25 % jitter. */
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;
/** After the first `store-waiting` line, one more every this often. */
const LOG_EVERY_MS = 30_000;

/** Network failures that pass by themselves: the store, its host or its name are not there yet. */
const TRANSIENT_NETWORK = /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH|ENETUNREACH|EPIPE)$/;
const TRANSIENT_MESSAGE = /Connection is closed|All sentinels are unreachable|connect ETIMEDOUT|^(LOADING|MASTERDOWN|READONLY|TRYAGAIN)\b/;
/** What Redis answers a wrong password or user: no wait will change it. */
const AUTH_REFUSED = /^(WRONGPASS|NOAUTH|NOPERM)\b/;

export function retryDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(FIRST_DELAY_MS * 2 ** Math.max(0, attempt - 1), MAX_DELAY_MS);
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * A start that failed because the store could not be reached (worth waiting for), as opposed to a
 * configuration error: a bad URL, a wrong password, a store that lost its state or is another fleet's.
 */
export function storeNotReachedYet(err: unknown): boolean {
  if (isFleetkeyError(err)) return err.code === 'STORE_UNAVAILABLE' && !authRefused(err);
  if (!(err instanceof Error)) return false;
  if (authRefused(err)) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return (typeof code === 'string' && TRANSIENT_NETWORK.test(code)) || TRANSIENT_MESSAGE.test(err.message);
}

function authRefused(err: Error): boolean {
  for (let e: unknown = err; e instanceof Error; e = e.cause) if (AUTH_REFUSED.test(e.message)) return true;
  return false;
}

/**
 * Redis hides an authentication refusal behind "Connection is closed" when a first connect fails: one
 * throwaway connection tells the two apart. Undefined when Redis did not refuse the credentials.
 */
async function credentialsRefused(url: string): Promise<string | undefined> {
  if (!/^(rediss?|redis\+sentinel):\/\//.test(url)) return undefined;
  const { redisConnection } = await import('../store/redis/url.js');
  const probe = redisConnection(url, { retryStrategy: () => null, sentinelRetryStrategy: () => null, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 2000 });
  let refusal: string | undefined;
  probe.on('error', (err: Error) => {
    if (AUTH_REFUSED.test(err.message)) refusal = err.message;
  });
  await probe.connect().catch(() => undefined);
  probe.disconnect();
  return refusal;
}

/** SIGTERM/SIGINT before the service is up: nothing to finish, so exit 0 at once. Returns the un-installer. */
function exitOnSignalWhileStarting(logger: Logger): () => void {
  const handler = (signal: NodeJS.Signals) => {
    logger.info({ event: 'shutdown', signal }, 'shutting down before the start completed');
    process.exit(0);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return () => {
    process.off('SIGINT', handler);
    process.off('SIGTERM', handler);
  };
}

/**
 * Runs `work` until it succeeds, waiting with capped, jittered backoff while it fails because the store
 * cannot be reached; any other failure is thrown at once. Logs `store-waiting` on the first failure and
 * then every 30 s, `store-reached` once a wait is over. SIGTERM/SIGINT meanwhile exit 0.
 */
export async function untilStoreAnswers<T>(logger: Logger, what: string, work: () => Promise<T>, url?: string): Promise<T> {
  const uninstall = exitOnSignalWhileStarting(logger);
  const started = Date.now();
  let loggedAt = 0;
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const result = await work();
        if (attempt > 1) logger.info({ event: 'store-reached', what, attempts: attempt, waitedMs: Date.now() - started }, `store reached after ${attempt} attempts`);
        return result;
      } catch (err) {
        if (!storeNotReachedYet(err)) throw err;
        const refused = url === undefined ? undefined : await credentialsRefused(url);
        if (refused !== undefined) throw new FleetkeyError('STORE_UNAVAILABLE', `${redact(url!)} refused the credentials: ${refused}`, { cause: err });
        const delay = retryDelay(attempt);
        if (loggedAt === 0 || Date.now() - loggedAt >= LOG_EVERY_MS) {
          loggedAt = Date.now();
          logger.warn({ event: 'store-waiting', what, attempt, retryInMs: delay, waitedMs: Date.now() - started, error: (err as Error).message }, `waiting for the store (${what}; attempt ${attempt})`);
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  } finally {
    uninstall();
  }
}

/** What the service commands need to open their store. */
export interface StoreCliOptions {
  readonly dir: string;
  readonly store?: string;
  readonly storePrefix: string;
}

export function storeUrl(opts: StoreCliOptions): string {
  return opts.store ?? `file:${resolve(opts.dir)}`;
}

/**
 * Opens a service's store, waiting for it as long as it cannot be reached; the data dir's identity
 * record makes an empty or foreign store a refusal (STORE_STATE_LOST, STORE_IDENTITY_MISMATCH).
 */
export function openServiceStore(opts: StoreCliOptions, logger: Logger): Promise<Store> {
  const url = storeUrl(opts);
  const identity = join(resolve(opts.dir), IDENTITY_FILE);
  return untilStoreAnswers(logger, 'open', () => openStore(url, { prefix: opts.storePrefix, logger, identity }), url);
}
