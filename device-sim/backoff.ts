/**
 * Reconnect and retry delays: exponential backoff with full jitter ("Exponential Backoff and Jitter",
 * AWS Architecture Blog, 2015): attempt n waits a uniform random time in [0, min(cap, base · 2^n)).
 * After a broker restart every device draws its own delay, so the fleet comes back spread over the
 * window instead of in lockstep (FIELD-NOTES: MQTT.js alone retries every second, all at once).
 */

export interface BackoffPolicy {
  /** First window, ms. */
  readonly baseMs: number;
  /** Largest window, ms. */
  readonly capMs: number;
}

export const defaultBackoff: BackoffPolicy = Object.freeze({ baseMs: 500, capMs: 15_000 });

/** The delay before retry number `attempt` (0 for the first retry). */
export function fullJitter(attempt: number, policy: BackoffPolicy, random: () => number = Math.random): number {
  const window = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * window);
}

/** A wait the server asked for (Retry-After, seconds), spread by up to half of it again. */
export function retryAfterJitter(seconds: number, random: () => number = Math.random): number {
  const ms = Math.max(0, seconds) * 1000;
  return Math.floor(ms + random() * (ms / 2 + 250));
}

/**
 * Bounds work in flight (TLS handshakes, enrollments): `run` waits for a free slot. It models the
 * simulator's own CPU, not a device rule: each device still keeps its own backoff.
 */
export class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) throw new RangeError('slots: size must be a positive integer');
    this.#free = size;
  }

  get waiting(): number {
    return this.#waiting.length;
  }

  async run<T>(work: () => Promise<T>): Promise<T> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((resolve) => this.#waiting.push(resolve));
    try {
      return await work();
    } finally {
      const next = this.#waiting.shift();
      if (next) next();
      else this.#free++;
    }
  }
}
