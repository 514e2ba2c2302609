import type { RekeyRequestClaim } from '../types.js';

/** Past this many claims, expired ones are swept before the next are taken. */
const SWEEP_AT = 100_000;

/**
 * Rekey-request claims of the file: store, in memory only: one process owns a file: store, so what
 * this process has claimed is the whole truth. They last `ttlMs` and are never journaled.
 */
export class RequestClaims {
  readonly #until = new Map<string, number>();

  claim(requests: readonly RekeyRequestClaim[], ttlMs: number, nowMs: number): Set<string> {
    if (this.#until.size >= SWEEP_AT) for (const [key, until] of this.#until) if (until <= nowMs) this.#until.delete(key);
    const won = new Set<string>();
    for (const { id, nonce } of requests) {
      const key = `${id}\n${nonce}`;
      if ((this.#until.get(key) ?? 0) > nowMs) continue;
      this.#until.set(key, nowMs + ttlMs);
      won.add(id);
    }
    return won;
  }
}
