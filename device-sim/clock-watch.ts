import { beyondLeeway, CLOCK_LEEWAY_SECONDS, offsetSeconds, type CertTimeReason } from '../certs/clock.js';
import type { Tally } from './stats.js';

/** Whose clock a device compared its own with: the provisioner's HTTP `Date`, or a grant's `iat` (the KDC's). */
export type ClockSource = 'provisioner' | 'kdc';

const SOURCE_NAMES: Readonly<Record<ClockSource, string>> = { provisioner: "the provisioner's (HTTP Date)", kdc: "the KDC's (grant iat)" };
const MAX_NOTES = 5;

/** The `clock` part of the sim report. */
export interface ClockReport {
  readonly leewaySeconds: number;
  /** The largest offset seen, in seconds (positive: the other clock is ahead of the devices'). */
  readonly worstOffsetSeconds: number;
  readonly worstSource: ClockSource | undefined;
  /** Observations beyond the leeway (each also counted as SIM_CLOCK_SKEW in `errors`). */
  readonly beyondLeeway: number;
  /** What a person should check, when anything was beyond the leeway. */
  readonly notes: readonly string[];
}

/**
 * What the fleet's devices saw of other clocks (certs/clock.ts): the device is the one party that
 * meets both the provisioner and the KDC, so it names its own clock as the likely cause when either
 * is further away than the leeway, or when a server certificate is out of time by its clock.
 */
export class ClockWatch {
  #worst = 0;
  #worstSource: ClockSource | undefined;
  #beyond = 0;
  /** One note per source and direction (the offsets of one fleet differ by a second or so). */
  readonly #notes = new Map<string, string>();

  constructor(private readonly errors: Tally) {}

  /** Another party's time (ms) against the device's; true when beyond the leeway. */
  observe(source: ClockSource, theirMs: number, oursMs = Date.now()): boolean {
    const offset = offsetSeconds(theirMs, oursMs);
    if (Math.abs(offset) > Math.abs(this.#worst)) {
      this.#worst = offset;
      this.#worstSource = source;
    }
    if (!beyondLeeway(offset)) return false;
    this.#beyond++;
    this.errors.add('SIM_CLOCK_SKEW');
    const direction = offset > 0 ? 'behind' : 'ahead of';
    this.#note(`${source}${Math.sign(offset)}`, `this device's clock is ${Math.abs(offset)} s ${direction} ${SOURCE_NAMES[source]}, beyond the ${CLOCK_LEEWAY_SECONDS} s leeway: check this device's clock (or that host's)`);
    return true;
  }

  /** A server certificate refused for its time by the device's clock. */
  certificate(server: 'provisioner' | 'broker', reason: CertTimeReason): void {
    const what = reason === 'cert-not-yet-valid' ? 'not valid yet' : 'expired';
    this.#note(`${server}-${reason}`, `the ${server}'s certificate is ${what} by this device's clock: check this device's clock (or the issuer's)`);
  }

  toJSON(): ClockReport {
    return { leewaySeconds: CLOCK_LEEWAY_SECONDS, worstOffsetSeconds: this.#worst, worstSource: this.#worstSource, beyondLeeway: this.#beyond, notes: [...this.#notes.values()] };
  }

  #note(key: string, text: string): void {
    if (this.#notes.has(key) || this.#notes.size < MAX_NOTES) this.#notes.set(key, text);
  }
}
