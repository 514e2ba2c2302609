import { FleetkeyError } from '../errors/index.js';

/**
 * A sliding anti-replay window over the sequence numbers of one grant (one session key), in the
 * manner of IPsec's (RFC 4303 §3.4.3): the highest seq seen so far, plus one bit for each of the
 * `size - 1` seqs below it. A seq above the highest is new; one inside the window is new once, then
 * a duplicate; one below the window is too old — it can no longer be told apart from a replay, so
 * it is never accepted.
 *
 * Only record a seq after its envelope authenticated, or forged envelopes could slide the window.
 */

export type SeqVerdict = 'new' | 'duplicate' | 'too-old';

export const DEFAULT_WINDOW_SIZE = 128;

export class ReplayWindow {
  readonly size: number;
  #highest = -1n;
  /** Bit i set = seq (highest - i) was seen; bit 0 is the highest itself. */
  #bits = 0n;
  readonly #mask: bigint;

  constructor(size: number = DEFAULT_WINDOW_SIZE) {
    if (!Number.isInteger(size) || size < 1 || size > 4096) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `replay window size ${size}`);
    this.size = size;
    this.#mask = (1n << BigInt(size)) - 1n;
  }

  /** The highest seq recorded, or undefined before the first. */
  get highest(): bigint | undefined {
    return this.#highest < 0n ? undefined : this.#highest;
  }

  /** What `seq` would be, without recording it. */
  check(seq: bigint): SeqVerdict {
    if (seq > this.#highest) return 'new';
    const offset = this.#highest - seq;
    if (offset >= BigInt(this.size)) return 'too-old';
    return (this.#bits >> offset) & 1n ? 'duplicate' : 'new';
  }

  /** Checks `seq` and records it when new. */
  record(seq: bigint): SeqVerdict {
    if (typeof seq !== 'bigint' || seq < 0n) throw new FleetkeyError('PROTOCOL_INPUT_INVALID', `seq ${String(seq)}`);
    const verdict = this.check(seq);
    if (verdict !== 'new') return verdict;
    if (seq > this.#highest) {
      const shift = seq - this.#highest;
      this.#bits = shift >= BigInt(this.size) ? 1n : ((this.#bits << shift) | 1n) & this.#mask;
      this.#highest = seq;
    } else {
      this.#bits |= 1n << (this.#highest - seq);
    }
    return 'new';
  }
}
