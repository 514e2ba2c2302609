import { closeSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FleetkeyError } from '../errors/index.js';

/** One window per `${deviceId}/${epoch}/${grant}`: the highest seq opened and a bit per seq below it (bit i = highest - i). */
interface Window {
  highest: bigint;
  bits: bigint;
}

interface Held {
  readonly deviceId: string;
  readonly envelope: Buffer;
}

/** The file's first line. */
interface Snapshot {
  readonly version: 1;
  readonly windows: Record<string, [highest: string, bits: string]>;
  /** Envelopes acknowledged to the broker but not yet opened (no epoch key yet): base64. */
  readonly held: Array<{ deviceId: string; envelope: string }>;
}

/** Each later line: seqs opened, held envelopes dropped from the front (opened or expired), held envelopes added. */
interface Change {
  readonly o?: Array<[deviceId: string, epoch: number, grant: number, seq: string]>;
  readonly d?: number;
  readonly h?: Array<[deviceId: string, envelope: string]>;
}

/** Change lines appended before the file is rewritten as one snapshot. */
const COMPACT_AFTER = 2000;

/**
 * What a persistent-session consumer has opened, kept in a file across its restarts so that a
 * QoS 1 message the broker delivers again (its PUBACK was lost with the process) counts as a
 * duplicate, not opened twice; and the envelopes it acknowledged while it held no key for them.
 * No key or secret is in it: device ids, epoch and grant numbers, seqs and sealed envelopes.
 * Written (mode 0600) before each PUBACK as one appended line of changes, so that a backlog of
 * thousands of held envelopes costs one line each, not one rewrite each; every 2000 lines it is
 * rewritten as one snapshot (temp file, rename). It survives a killed process; not fsynced, a machine
 * crash may lose the last writes (those messages are then opened again), and a torn last line is ignored.
 */
export class ReplayState {
  readonly #windows = new Map<string, Window>();
  #held: Held[] = [];
  #opened: Array<[deviceId: string, epoch: number, grant: number, seq: string]> = [];
  /** The held envelopes as the file has them, in order. */
  #heldWritten: Held[] = [];
  #fd: number | undefined;
  #lines = COMPACT_AFTER; // the first save writes a snapshot

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
    const lines = text.split('\n').filter((l) => l !== '');
    try {
      const snapshot = JSON.parse(lines[0] ?? '') as Snapshot;
      if (snapshot.version !== 1) throw new Error(`version ${String(snapshot.version)}`);
      for (const [key, [highest, bits]] of Object.entries(snapshot.windows)) state.#windows.set(key, { highest: BigInt(highest), bits: BigInt(bits) });
      state.#held = snapshot.held.map((h) => ({ deviceId: h.deviceId, envelope: Buffer.from(h.envelope, 'base64') }));
      for (let i = 1; i < lines.length; i++) {
        let change: Change;
        try {
          change = JSON.parse(lines[i]!) as Change;
        } catch (err) {
          if (i === lines.length - 1 && !text.endsWith('\n')) break; // torn by a crash mid-write
          throw err;
        }
        state.#apply(change);
      }
    } catch (err) {
      throw new FleetkeyError('CONFIG_INVALID', `consumer state file ${file} is unreadable: ${(err as Error).message}`);
    }
    return state;
  }

  /** Held envelopes read from the file (once). */
  takeHeld(): Held[] {
    const held = this.#held;
    this.#held = [];
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
    this.#mark(`${deviceId}/${epoch}/${grant}`, seq);
    this.#opened.push([deviceId, epoch, grant, seq.toString()]);
  }

  /**
   * Puts on disk what changed since the last save: seqs opened, and `held` (what the consumer holds
   * now; it only ever drops from the front and adds at the end). A snapshot keeps the windows of
   * epochs from `oldestEpoch` on (all when undefined).
   */
  save(oldestEpoch: number | undefined, held: readonly Held[]): void {
    if (this.#lines >= COMPACT_AFTER) {
      this.#snapshot(oldestEpoch, held);
      return;
    }
    const now = new Set(held);
    let dropped = 0;
    while (dropped < this.#heldWritten.length && !now.has(this.#heldWritten[dropped]!)) dropped++;
    const added = held.slice(this.#heldWritten.length - dropped);
    if (this.#opened.length === 0 && dropped === 0 && added.length === 0) return;
    const change: Change = {
      ...(this.#opened.length > 0 ? { o: this.#opened } : {}),
      ...(dropped > 0 ? { d: dropped } : {}),
      ...(added.length > 0 ? { h: added.map((h) => [h.deviceId, h.envelope.toString('base64')] as [string, string]) } : {}),
    };
    writeSync(this.#fd!, `${JSON.stringify(change)}\n`);
    this.#lines++;
    this.#opened = [];
    this.#heldWritten = [...held];
  }

  /** Closes the file (the state stays on disk). */
  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #snapshot(oldestEpoch: number | undefined, held: readonly Held[]): void {
    const windows: Snapshot['windows'] = {};
    for (const [key, w] of this.#windows) {
      if (oldestEpoch !== undefined && Number(key.split('/')[1]) < oldestEpoch) this.#windows.delete(key);
      else windows[key] = [w.highest.toString(), `0x${w.bits.toString(16)}`];
    }
    const body: Snapshot = { version: 1, windows, held: held.map((h) => ({ deviceId: h.deviceId, envelope: h.envelope.toString('base64') })) };
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.tmp`;
    writeFileSync(tmp, `${JSON.stringify(body)}\n`, { mode: 0o600 });
    this.close();
    renameSync(tmp, this.file);
    this.#fd = openSync(this.file, 'a', 0o600);
    this.#lines = 0;
    this.#opened = [];
    this.#heldWritten = [...held];
  }

  #apply(change: Change): void {
    for (const [deviceId, epoch, grant, seq] of change.o ?? []) this.#mark(`${deviceId}/${epoch}/${grant}`, BigInt(seq));
    if (change.d) this.#held.splice(0, change.d);
    for (const [deviceId, envelope] of change.h ?? []) this.#held.push({ deviceId, envelope: Buffer.from(envelope, 'base64') });
  }

  #mark(key: string, seq: bigint): void {
    const w = this.#windows.get(key);
    const mask = (1n << BigInt(this.size)) - 1n;
    if (!w) this.#windows.set(key, { highest: seq, bits: 1n });
    else if (seq > w.highest) {
      const shift = seq - w.highest;
      w.bits = shift >= BigInt(this.size) ? 1n : ((w.bits << shift) | 1n) & mask;
      w.highest = seq;
    } else w.bits |= 1n << (w.highest - seq);
  }
}
