/**
 * Envelopes of an epoch the consumer holds no key for yet, kept for a while instead of being
 * counted undecryptable at once: right after a rotation the epoch grant can arrive a moment after
 * the first envelopes sealed with it (a KDC that restarted learns of this consumer only when it asks).
 */
export class HeldEnvelopes {
  #items: Array<{ deviceId: string; envelope: Buffer; at: number }> = [];

  constructor(private readonly holdMs: number, private readonly max: number) {}

  get size(): number {
    return this.#items.length;
  }

  /** False when full (the caller counts the envelope as undecryptable). */
  add(deviceId: string, envelope: Buffer, now: number): boolean {
    if (this.#items.length >= this.max || this.holdMs === 0) return false;
    this.#items.push({ deviceId, envelope, at: now });
    return true;
  }

  /** Drops what was held longer than `holdMs`; returns how many. */
  expire(now: number): number {
    let n = 0;
    while (this.#items.length > 0 && now - this.#items[0]!.at >= this.holdMs) {
      this.#items.shift();
      n++;
    }
    return n;
  }

  /** What is held now, in arrival order (to persist it). */
  items(): ReadonlyArray<{ deviceId: string; envelope: Buffer }> {
    return this.#items;
  }

  /** Everything held, in arrival order, for another try. */
  takeAll(): Array<{ deviceId: string; envelope: Buffer }> {
    const items = this.#items;
    this.#items = [];
    return items;
  }
}
