import type { SimEvent } from '../../device-sim/index.js';

/** What the devices of one simulator lived through, as `run-sim.ts` reports it (times: ms since the Unix epoch). */
export interface OutageSummary {
  /** Devices that lost a connection they had. */
  readonly down: number;
  /** Of those, devices connected again. */
  readonly back: number;
  /** Lost connections in all (a device can lose several). */
  readonly outages: number;
  readonly firstDownAt: number | null;
  readonly firstBackAt: number | null;
  readonly lastBackAt: number | null;
  /** When the last device that came back had its grant request answered again. */
  readonly lastRegrantedAt: number | null;
  /** Devices by the newest epoch they hold a key for. */
  readonly newestEpoch: Record<string, number>;
}

interface Outage {
  readonly downAt: number;
  backAt: number | undefined;
  regrantedAt: number | undefined;
}

/**
 * Each device's first lost connection and its return, from the simulator's events: `connected` after
 * a `disconnected` of an online device is "back"; the next answered grant request is "keyed again".
 * A failed attempt while the broker is away also emits `disconnected` and does not start an outage.
 */
export class OutageLog {
  readonly #online = new Set<string>();
  readonly #first = new Map<string, Outage>();
  readonly #epoch = new Map<string, number>();
  #count = 0;

  observe(event: SimEvent, now: number): void {
    const id = event.deviceId;
    switch (event.type) {
      case 'connected': {
        this.#online.add(id);
        const outage = this.#first.get(id);
        if (outage && outage.backAt === undefined) outage.backAt = now;
        return;
      }
      case 'disconnected':
        if (!this.#online.delete(id)) return;
        this.#count++;
        if (!this.#first.has(id)) this.#first.set(id, { downAt: now, backAt: undefined, regrantedAt: undefined });
        return;
      case 'granted': {
        this.#epoch.set(id, Math.max(this.#epoch.get(id) ?? 0, event.epoch));
        const outage = this.#first.get(id);
        if (event.req !== undefined && outage?.backAt !== undefined && outage.regrantedAt === undefined) outage.regrantedAt = now;
        return;
      }
      default:
    }
  }

  summary(): OutageSummary {
    let back = 0;
    let firstDownAt = Infinity;
    let firstBackAt = Infinity;
    let lastBackAt = -Infinity;
    let lastRegrantedAt = -Infinity;
    for (const o of this.#first.values()) {
      firstDownAt = Math.min(firstDownAt, o.downAt);
      if (o.backAt === undefined) continue;
      back++;
      firstBackAt = Math.min(firstBackAt, o.backAt);
      lastBackAt = Math.max(lastBackAt, o.backAt);
      if (o.regrantedAt !== undefined) lastRegrantedAt = Math.max(lastRegrantedAt, o.regrantedAt);
    }
    const newestEpoch: Record<string, number> = {};
    for (const epoch of this.#epoch.values()) newestEpoch[epoch] = (newestEpoch[epoch] ?? 0) + 1;
    const finite = (n: number) => (Number.isFinite(n) ? n : null);
    return {
      down: this.#first.size, back, outages: this.#count,
      firstDownAt: finite(firstDownAt), firstBackAt: finite(firstBackAt), lastBackAt: finite(lastBackAt), lastRegrantedAt: finite(lastRegrantedAt),
      newestEpoch,
    };
  }
}
