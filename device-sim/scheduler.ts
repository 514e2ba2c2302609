/**
 * One scheduler for the whole simulated fleet: a hashed timing wheel (Varghese & Lauck) driven by a
 * single native timer. Ten thousand devices each with a telemetry tick, a keepalive, a grant timeout
 * and a renewal date would otherwise hold tens of thousands of Node timers; here scheduling and
 * cancelling are O(1), and one native interval (running only while something is scheduled) turns
 * the wheel. Resolution is `tickMs`: a task runs at its due time or up to one tick later, never early.
 */

export interface Scheduled {
  /** Stops the task from running (again); safe to call twice or after it ran. */
  cancel(): void;
}

interface Entry extends Scheduled {
  due: number;
  readonly run: () => void;
  readonly periodMs: number;
  /** Told how many beats a periodic task skipped because the wheel turned late. */
  readonly onMissed: ((beats: number) => void) | undefined;
  live: boolean;
}

export interface WheelOptions {
  /** Milliseconds per slot. Default 10. */
  readonly tickMs?: number;
  /** Slots per turn; tasks further out than one turn wait in their slot for later turns. Default 4096. */
  readonly slots?: number;
  /** Milliseconds since the Unix epoch. Default Date.now. */
  readonly clock?: () => number;
  /** A task that throws is reported here and does not stop the wheel. */
  readonly onError?: (err: unknown) => void;
}

/** The `timerVariant` shape MQTT.js accepts for its keepalive (KeepaliveManager): set/clear an interval. */
export interface IntervalTimer {
  set(callback: () => void, ms: number): number;
  clear(id: number): void;
}

export class TimingWheel {
  readonly #tickMs: number;
  readonly #slots: Entry[][];
  readonly #clock: () => number;
  readonly #onError: (err: unknown) => void;
  /** The next absolute tick (clock / tickMs) to process. */
  #cursor: number;
  #size = 0;
  #native: NodeJS.Timeout | undefined;
  #turning = false;
  #closed = false;

  constructor(opts: WheelOptions = {}) {
    this.#tickMs = opts.tickMs ?? 10;
    const slots = opts.slots ?? 4096;
    if (!(this.#tickMs >= 1) || !Number.isInteger(slots) || slots < 2) throw new RangeError('timing wheel: tickMs >= 1 and slots >= 2');
    this.#slots = Array.from({ length: slots }, () => []);
    this.#clock = opts.clock ?? Date.now;
    this.#onError = opts.onError ?? ((err) => queueMicrotask(() => { throw err; }));
    this.#cursor = Math.floor(this.#clock() / this.#tickMs);
  }

  /** Tasks scheduled and not yet run or cancelled (periodic tasks count once). */
  get size(): number {
    return this.#size;
  }

  now(): number {
    return this.#clock();
  }

  /** Runs `run` once at `time` (ms since the epoch). */
  at(time: number, run: () => void): Scheduled {
    return this.#add(time, run, 0);
  }

  /** Runs `run` once, `ms` from now. */
  after(ms: number, run: () => void): Scheduled {
    return this.#add(this.#clock() + Math.max(0, ms), run, 0);
  }

  /**
   * Runs `run` every `periodMs`, first at `firstAt` (default one period from now); drift-free. When the
   * process is too busy to keep up, missed beats are skipped (and counted through `onMissed`), not burst.
   */
  every(periodMs: number, run: () => void, firstAt?: number, onMissed?: (beats: number) => void): Scheduled {
    if (!(periodMs >= 1)) throw new RangeError('timing wheel: period must be >= 1 ms');
    return this.#add(firstAt ?? this.#clock() + periodMs, run, periodMs, onMissed);
  }

  /** An interval timer for MQTT.js (`timerVariant`), so its keepalive runs on this wheel too. */
  intervalTimer(): IntervalTimer {
    const live = new Map<number, Scheduled>();
    let next = 1;
    return {
      set: (callback, ms) => {
        const id = next++;
        live.set(id, this.every(ms, callback));
        return id;
      },
      clear: (id) => {
        live.get(id)?.cancel();
        live.delete(id);
      },
    };
  }

  /** Drops every task and stops the native timer. */
  close(): void {
    this.#closed = true;
    for (const slot of this.#slots) {
      for (const entry of slot) entry.live = false;
      slot.length = 0;
    }
    this.#size = 0;
    this.#stop();
  }

  #add(due: number, run: () => void, periodMs: number, onMissed?: (beats: number) => void): Scheduled {
    if (this.#closed) return { cancel: () => undefined };
    const wheel = this;
    const entry: Entry = {
      due, run, periodMs, onMissed, live: true,
      cancel() {
        if (!this.live) return;
        this.live = false;
        wheel.#size--;
        if (wheel.#size === 0) wheel.#stop();
      },
    };
    this.#place(entry);
    this.#size++;
    if (this.#native === undefined) {
      this.#cursor = Math.max(this.#cursor, Math.floor(this.#clock() / this.#tickMs));
      this.#native = setInterval(() => this.#turn(), this.#tickMs);
    }
    return entry;
  }

  /** Into the slot of its due tick, or of the next tick to process if it is already due. */
  #place(entry: Entry): void {
    // While a tick is being processed its slot is done: anything placed now goes to a later one.
    const tick = Math.max(this.#cursor + (this.#turning ? 1 : 0), Math.ceil(entry.due / this.#tickMs));
    this.#slots[tick % this.#slots.length]!.push(entry);
  }

  /** Processes every tick up to now (several, if the event loop was late). */
  #turn(): void {
    const now = this.#clock();
    const last = Math.floor(now / this.#tickMs);
    this.#turning = true;
    for (; this.#cursor <= last && this.#size > 0; this.#cursor++) {
      const index = this.#cursor % this.#slots.length;
      const slot = this.#slots[index]!;
      if (slot.length === 0) continue;
      const keep: Entry[] = [];
      const due: Entry[] = [];
      for (const entry of slot) {
        if (!entry.live) continue;
        (entry.due <= now ? due : keep).push(entry);
      }
      this.#slots[index] = keep;
      for (const entry of due) this.#fire(entry, now);
    }
    this.#turning = false;
    if (this.#size === 0) this.#stop();
    else this.#cursor = Math.max(this.#cursor, last + 1);
  }

  #fire(entry: Entry, now: number): void {
    if (!entry.live) return; // cancelled by a task that ran before it in this tick
    if (entry.periodMs > 0) {
      // Next due time on the original grid; skip missed beats rather than bursting to catch up.
      const beats = Math.max(1, Math.ceil((now - entry.due + 1) / entry.periodMs));
      entry.due += entry.periodMs * beats;
      if (beats > 1) entry.onMissed?.(beats - 1);
      this.#place(entry);
    } else {
      entry.live = false;
      this.#size--;
    }
    try {
      entry.run();
    } catch (err) {
      this.#onError(err);
    }
  }

  #stop(): void {
    if (this.#native !== undefined) clearInterval(this.#native);
    this.#native = undefined;
  }
}
