import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { FleetkeyError } from '../errors/index.js';

/** One window per `${deviceId}/${epoch}/${grant}`: the highest seq opened and a bit per seq below it (bit i = highest - i). */
interface Window {
  highest: bigint;
  bits: bigint;
}

interface StateFile {
  readonly version: 1;
  readonly windows: Record<string, [highest: string, bits: string]>;
  /** Envelopes acknowledged to the broker but not yet opened (no epoch key yet): base64. */
  readonly held: Array<{ deviceId: string; envelope: string }>;
}

/**
 * What a persistent-session consumer has opened, kept in a file across its restarts so that a
 * QoS 1 message the broker delivers again (its PUBACK was lost with the process) counts as a
 * duplicate, not opened twice; and the envelopes it acknowledged while it held no key for them.
 * No key or secret is in it: device ids, epoch and grant numbers, seqs and sealed envelopes.
 * Written (mode 0600, through a rename) before each PUBACK; it survives a killed process, and a
 * machine crash may lose the last writes (those messages are then opened again).
 */
export class ReplayState {
  readonly #windows = new Map<string, Window>();
  #held: Array<{ deviceId: string; envelope: Buffer }> = [];
  #dirty = false;
  #heldWritten = 0;

  private constructor(readonly file: string, readonly size: number) {}

  static open(file: string, size: number): ReplayState {
    const state = new ReplayState(file, size);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return state;
      throw err;
    }
    try {
      const parsed = JSON.parse(text) as StateFile;
      if (parsed.version !== 1) throw new Error(`version ${String(parsed.version)}`);
      for (const [key, [highest, bits]] of Object.entries(parsed.windows)) state.#windows.set(key, { highest: BigInt(highest), bits: BigInt(bits) });
      state.#held = parsed.held.map((h) => ({ deviceId: h.deviceId, envelope: Buffer.from(h.envelope, 'base64') }));
    } catch (err) {
      throw new FleetkeyError('CONFIG_INVALID', `consumer state file ${file} is unreadable: ${(err as Error).message}`);
    }
    return state;
  }

  /** Held envelopes read from the file (once). */
  takeHeld(): Array<{ deviceId: string; envelope: Buffer }> {
    const held = this.#held;
    this.#held = [];
    this.#dirty = true;
    return held;
  }

  /** True when this seq was opened before (in this process or an earlier one). */
  seen(deviceId: string, epoch: number, grant: number, seq: bigint): boolean {
    const w = this.#windows.get(`${deviceId}/${epoch}/${grant}`);
    if (!w || seq > w.highest) return false;
    const offset = w.highest - seq;
    return offset >= BigInt(this.size) || ((w.bits >> offset) & 1n) === 1n;
  }

  /** Records an opened seq. */
  opened(deviceId: string, epoch: number, grant: number, seq: bigint): void {
    const key = `${deviceId}/${epoch}/${grant}`;
    const w = this.#windows.get(key);
    const mask = (1n << BigInt(this.size)) - 1n;
    if (!w) this.#windows.set(key, { highest: seq, bits: 1n });
    else if (seq > w.highest) {
      const shift = seq - w.highest;
      w.bits = shift >= BigInt(this.size) ? 1n : ((w.bits << shift) | 1n) & mask;
      w.highest = seq;
    } else w.bits |= 1n << (w.highest - seq);
    this.#dirty = true;
  }

  /** Writes the file if anything changed: the windows of epochs from `oldestEpoch` on (all when undefined) and `held`. */
  save(oldestEpoch: number | undefined, held: ReadonlyArray<{ deviceId: string; envelope: Buffer }>): void {
    if (!this.#dirty && held.length === 0 && this.#heldWritten === 0) return;
    const windows: StateFile['windows'] = {};
    for (const [key, w] of this.#windows) {
      if (oldestEpoch !== undefined && Number(key.split('/')[1]) < oldestEpoch) this.#windows.delete(key);
      else windows[key] = [w.highest.toString(), `0x${w.bits.toString(16)}`];
    }
    const body: StateFile = { version: 1, windows, held: held.map((h) => ({ deviceId: h.deviceId, envelope: h.envelope.toString('base64') })) };
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, JSON.stringify(body), { mode: 0o600 });
    renameSync(tmp, this.file);
    this.#dirty = false;
    this.#heldWritten = held.length;
  }
}
