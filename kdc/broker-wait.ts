import type { Logger } from 'pino';
import { isFleetkeyError, type FleetkeyError } from '../errors/index.js';

/** Waits between attempts: doubling from the first up to the cap, each with ±25 % jitter. */
const FIRST_DELAY_MS = 500;
const MAX_DELAY_MS = 5000;
/** After the first `broker-waiting` line, one more every this often. */
const LOG_EVERY_MS = 30_000;
/** CONNACK return codes no wait changes (MQTT 3.1.1 §3.2.2.3): protocol, identifier, credentials, authorization. Code 3 (server unavailable) passes. */
const REFUSED_FOR_GOOD: ReadonlySet<number> = new Set([1, 2, 4, 5]);

/**
 * A connect that failed because the broker is not there yet, is paused or busy (refused, timed out,
 * closed before CONNACK, CONNACK 3), as opposed to one the broker refused for good or whose required
 * subscriptions it refused.
 */
export function brokerNotReachedYet(err: unknown): boolean {
  if (!isFleetkeyError(err) || err.code !== 'KDC_BROKER_UNAVAILABLE') return false;
  const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
  if (typeof cause?.code === 'number' && REFUSED_FOR_GOOD.has(cause.code)) return false;
  return !(typeof cause?.message === 'string' && cause.message.startsWith('subscriptions refused'));
}

export function brokerRetryDelay(attempt: number, random: () => number = Math.random): number {
  const base = Math.min(FIRST_DELAY_MS * 2 ** Math.max(0, attempt - 1), MAX_DELAY_MS);
  return Math.round(base * (0.75 + random() * 0.5));
}

/**
 * Runs `connect` until it succeeds, waiting with capped, jittered backoff while the broker cannot be
 * reached (a KDC restarted while its broker is down, paused or restarting waits for it instead of
 * exiting); a refusal for good is thrown at once. Logs `broker-waiting` on the first failure and then
 * every 30 s, `broker-reached` once a wait is over; `onRetry` counts each failed attempt.
 */
export async function untilBrokerAnswers<T>(log: Logger, url: string, connect: () => Promise<T>, onRetry: () => void = () => undefined): Promise<T> {
  const wait = brokerWaitLog(log, url);
  for (let attempt = 1; ; attempt++) {
    try {
      const result = await connect();
      wait.reached(attempt);
      return result;
    } catch (err) {
      if (!brokerNotReachedYet(err)) throw err;
      onRetry();
      const delay = brokerRetryDelay(attempt);
      wait.failed(attempt, (err as FleetkeyError).detail, delay);
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * The log lines of one wait for a broker, for the KDC and the consumer alike: `broker-waiting` at the
 * first failed attempt and then every 30 s, `broker-reached` when an attempt after a failure succeeds.
 */
export function brokerWaitLog(log: Logger, url: string): { failed(attempt: number, error: string | undefined, retryInMs?: number): void; reached(attempt: number): void } {
  const started = Date.now();
  let loggedAt = 0;
  return {
    failed(attempt, error, retryInMs) {
      if (loggedAt !== 0 && Date.now() - loggedAt < LOG_EVERY_MS) return;
      loggedAt = Date.now();
      log.warn({ event: 'broker-waiting', broker: url, attempt, ...(retryInMs === undefined ? {} : { retryInMs }), waitedMs: Date.now() - started, error }, `waiting for the broker (attempt ${attempt})`);
    },
    reached(attempt) {
      if (attempt > 1) log.info({ event: 'broker-reached', broker: url, attempts: attempt, waitedMs: Date.now() - started }, `broker reached after ${attempt} attempts`);
    },
  };
}
