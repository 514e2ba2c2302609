import { ClockWatch } from './clock-watch.js';

/** What the fleet counts while it runs, and latency samples summarised as percentiles. */

export interface Percentiles {
  readonly n: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Latency samples in ms (one per event: at most a few per device, so an array is fine). */
export class Latencies {
  #samples: number[] = [];

  add(ms: number): void {
    this.#samples.push(ms);
  }

  get count(): number {
    return this.#samples.length;
  }

  summary(): Percentiles {
    const sorted = Float64Array.from(this.#samples).sort();
    const at = (q: number): number => (sorted.length === 0 ? 0 : round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!));
    return { n: sorted.length, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: at(1) };
  }
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

/** Counts by a string key (error codes, grant refusals). */
export class Tally {
  readonly #counts = new Map<string, number>();

  add(key: string, n = 1): void {
    this.#counts.set(key, (this.#counts.get(key) ?? 0) + n);
  }

  get total(): number {
    let sum = 0;
    for (const n of this.#counts.values()) sum += n;
    return sum;
  }

  toJSON(): Record<string, number> {
    return Object.fromEntries([...this.#counts].sort(([a], [b]) => a.localeCompare(b)));
  }
}

/** Fleet-wide counters every device writes to (one object, not one per device). */
export class FleetCounters {
  /** Envelopes sealed (each a new (key, seq)). */
  sealed = 0;
  /** Envelopes the broker acknowledged (QoS 1) or that were written (QoS 0). */
  sent = 0;
  /** Envelopes published again, same bytes, after a reconnect. */
  republished = 0;
  /** Readings not taken because the device had no connection at that moment. */
  skipped = 0;
  /** Readings not taken because the simulator itself was too busy (its timers ran late). */
  late = 0;
  /** Unacknowledged envelopes given up because the device's outbox was full. */
  dropped = 0;
  grantsAccepted = 0;
  /** Rotation grants (no `req`) accepted and acknowledged. */
  rotationsAcked = 0;
  /** Times a device started sealing with a newer key. */
  keySwitches = 0;
  connects = 0;
  reconnects = 0;
  renewals = 0;
  requests = 0;
  readonly errors = new Tally();
  /** Other clocks as the devices saw them (device-sim/clock-watch.ts). */
  readonly clock = new ClockWatch(this.errors);
  readonly grantRefusals = new Tally();
  readonly enrollMs = new Latencies();
  readonly connectMs = new Latencies();
  readonly firstKeyMs = new Latencies();
  readonly renewMs = new Latencies();
}
