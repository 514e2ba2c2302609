import type { Logger } from 'pino';
import type { Store } from './types.js';

export interface RevocationCacheOptions {
  /** How often the store's revocation sequence is read (one GET on Redis). Default 1000 ms. */
  readonly checkIntervalMs?: number;
  /** With no successful read for this long (a hung or partitioned store) the cache counts as stale. Default 3000 ms. */
  readonly staleAfterMs?: number;
}

/** Why the cache may have missed a revocation. */
export type StaleReason = 'events-cut' | 'gap' | 'behind' | 'went-back' | 'check-failed' | 'unanswered';

const RETRY_FIRST_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * Revoked serials and devices, in memory, for the broker's CONNECT check: synchronous O(1) lookups.
 *
 * It also knows at every moment whether it may have missed a revocation. Every revoking change
 * increments the store's revocation sequence and its events carry the new value (`seq`); the cache
 * tracks the sequence it has applied. It is stale while the store's event feed is cut
 * (`events-cut` … `events-resumed`), when an event shows a gap (seq > applied + 1), and when its
 * periodic read of `revocationSeq()` fails, shows the store ahead, or has not succeeded for
 * `staleAfterMs`. While stale it reads the revoked set again, retrying with backoff until that
 * succeeds, then applies the sequence it read before listing (revocations only add, so that is safe),
 * is fresh again and tells its `onReloaded` listeners, which close what is now revoked.
 * A subject counts as revoked when its device was revoked (`device-changed` → revoked), not when one
 * of its certificates was (superseded on re-enrollment, say).
 */
export class RevocationCache {
  private readonly serials = new Set<string>();
  private readonly subjects = new Set<string>();
  private readonly unsubscribe: (() => void)[];
  private readonly reloaded = new Set<() => void>();
  private readonly checkIntervalMs: number;
  private readonly staleAfterMs: number;
  private readonly checker: NodeJS.Timeout;
  /** Sequence numbers heard above `applied + 1`: a gap until the ones between arrive or a reload covers them. */
  private readonly ahead = new Set<number>();
  private applied = 0;
  private stale = false;
  private staleSince = 0;
  private feedCut = false;
  private lastAnswer = Date.now();
  private checking = false;
  private reloading = false;
  private again = false;
  private wake: (() => void) | undefined;
  private closed = false;
  private reloadCount = 0;

  private constructor(private readonly store: Store, private readonly logger: Logger | undefined, opts: RevocationCacheOptions) {
    this.checkIntervalMs = opts.checkIntervalMs ?? 1000;
    this.staleAfterMs = opts.staleAfterMs ?? 3000;
    this.unsubscribe = [
      store.on('revoked', (event) => {
        for (const serial of event.serials) this.serials.add(serial);
        this.heard(event.seq);
      }),
      store.on('device-changed', (event) => {
        if (event.status !== 'revoked') return;
        this.subjects.add(event.deviceId);
        this.heard(event.seq);
      }),
      store.on('events-cut', () => {
        this.feedCut = true;
        this.markStale('events-cut');
      }),
      store.on('events-resumed', () => {
        this.feedCut = false;
        this.markStale('events-cut');
      }),
    ];
    this.checker = setInterval(() => void this.check(), this.checkIntervalMs);
    this.checker.unref();
  }

  /** Subscribes, then loads; throws (STORE_UNAVAILABLE) when the store cannot be read. */
  static async open(store: Store, logger?: Logger, opts: RevocationCacheOptions = {}): Promise<RevocationCache> {
    const cache = new RevocationCache(store, logger, opts);
    try {
      const seq = await store.revocationSeq();
      await cache.load();
      cache.applied = Math.max(cache.applied, seq);
      cache.settleAhead();
    } catch (err) {
      cache.close();
      throw err;
    }
    return cache;
  }

  /** Bound, so that it can be handed on as a test of its own (store/succession.ts). */
  readonly isRevoked = (serial: string): boolean => this.serials.has(serial);

  isSubjectRevoked(subject: string): boolean {
    return this.subjects.has(subject);
  }

  /** False while a revocation may have been missed: then a CONNECT cannot be checked. O(1). */
  isFresh(): boolean {
    return !this.stale && Date.now() - this.lastAnswer <= this.staleAfterMs;
  }

  /** The revocation sequence applied: every revocation up to it is in the cache. */
  get appliedSeq(): number {
    return this.applied;
  }

  /** Reloads completed after the cache was stale. */
  get reloads(): number {
    return this.reloadCount;
  }

  get size(): { serials: number; subjects: number } {
    return { serials: this.serials.size, subjects: this.subjects.size };
  }

  /** Called after each reload that ends a stale period. Returns an unsubscribe function. */
  onReloaded(listener: () => void): () => void {
    this.reloaded.add(listener);
    return () => this.reloaded.delete(listener);
  }

  close(): void {
    this.closed = true;
    clearInterval(this.checker);
    for (const stop of this.unsubscribe.splice(0)) stop();
    this.reloaded.clear();
    this.wake?.();
  }

  /** Revocations are never undone, so loading only adds. */
  private async load(): Promise<void> {
    for (const r of await this.store.listRevocations()) this.serials.add(r.serial);
    let cursor: string | undefined;
    do {
      const page = await this.store.listDevices({ status: 'revoked', limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const d of page.devices) this.subjects.add(d.id);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
  }

  private heard(seq: number | undefined): void {
    if (seq === undefined || seq <= this.applied) return;
    this.ahead.add(seq);
    this.settleAhead();
    if (this.ahead.size > 0 && !this.reloading) this.markStale('gap');
  }

  /** Applies the heard sequence numbers that follow on from `applied`; forgets those a reload covered. */
  private settleAhead(): void {
    while (this.ahead.delete(this.applied + 1)) this.applied += 1;
    for (const seq of this.ahead) if (seq <= this.applied) this.ahead.delete(seq);
  }

  private async check(): Promise<void> {
    if (this.checking || this.reloading || this.closed) return;
    this.checking = true;
    try {
      const seq = await this.store.revocationSeq();
      this.lastAnswer = Date.now();
      if (seq > this.applied) this.markStale('behind', { store: seq });
      // A store restored or replaced under us: read it again, and count from where it is.
      else if (seq < this.applied) this.markStale('went-back', { store: seq });
    } catch (err) {
      this.markStale('check-failed', { err });
    } finally {
      this.checking = false;
    }
    if (!this.closed && Date.now() - this.lastAnswer > this.staleAfterMs) this.markStale('unanswered');
  }

  private markStale(reason: StaleReason, detail: Record<string, unknown> = {}): void {
    if (this.closed) return;
    if (!this.stale) {
      this.stale = true;
      this.staleSince = Date.now();
      this.logger?.warn({ event: 'revocations-stale', reason, appliedSeq: this.applied, ...detail }, 'revocations may be stale: reading them again');
    }
    if (this.reloading) {
      this.again = true;
      this.wake?.();
      return;
    }
    void this.reloadUntilFresh();
  }

  private async reloadUntilFresh(): Promise<void> {
    this.reloading = true;
    let delay = RETRY_FIRST_MS;
    let failures = 0;
    const before = this.size;
    while (!this.closed) {
      this.again = false;
      if (!this.feedCut) {
        try {
          const base = this.applied;
          const seq = await this.store.revocationSeq();
          await this.load();
          this.lastAnswer = Date.now();
          this.applied = seq < base ? seq : Math.max(this.applied, seq);
          this.settleAhead();
          if (!this.again && !this.feedCut && this.ahead.size === 0) break;
          continue;
        } catch (err) {
          if (failures++ === 0) this.logger?.warn({ event: 'revocations-reload-failed', err }, 'revocations could not be read again; retrying until the store answers');
        }
      }
      if (this.again) delay = RETRY_FIRST_MS;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wake = undefined;
      delay = Math.min(delay * 2, RETRY_MAX_MS);
    }
    this.reloading = false;
    if (this.closed) return;
    this.stale = false;
    this.reloadCount += 1;
    const after = this.size;
    this.logger?.info({
      event: 'revocations-reloaded', appliedSeq: this.applied, staleMs: Date.now() - this.staleSince,
      newSerials: after.serials - before.serials, newSubjects: after.subjects - before.subjects,
    }, 'revocations read again: fresh');
    for (const listener of this.reloaded) {
      try {
        listener();
      } catch (err) {
        this.logger?.error({ event: 'revocations-listener-failed', err }, 'a revocation reload listener threw');
      }
    }
  }
}
