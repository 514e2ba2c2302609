import type { Logger } from 'pino';
import type { Store } from './types.js';

/**
 * Revoked serials and devices, in memory, for the broker's CONNECT check: synchronous O(1) lookups.
 * It subscribes before it loads, so a revocation made while loading is not missed (adding twice is harmless).
 * A subject counts as revoked when its device was revoked (`device-changed` → revoked), not when one of
 * its certificates was (superseded on re-enrollment, say). When the store's event feed was cut
 * (`events-resumed`), it reads the store again and then tells its `onReloaded` listeners, which
 * check what they let in meanwhile.
 */
export class RevocationCache {
  private readonly serials = new Set<string>();
  private readonly subjects = new Set<string>();
  private readonly unsubscribe: (() => void)[];
  private readonly reloaded = new Set<() => void>();

  private constructor(private readonly store: Store, private readonly logger: Logger | undefined) {
    this.unsubscribe = [
      store.on('revoked', (event) => {
        for (const serial of event.serials) this.serials.add(serial);
      }),
      store.on('device-changed', (event) => {
        if (event.status === 'revoked') this.subjects.add(event.deviceId);
      }),
      store.on('events-resumed', () => void this.reloadAfterGap()),
    ];
  }

  static async open(store: Store, logger?: Logger): Promise<RevocationCache> {
    const cache = new RevocationCache(store, logger);
    try {
      await cache.load();
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

  get size(): { serials: number; subjects: number } {
    return { serials: this.serials.size, subjects: this.subjects.size };
  }

  /** Called after each reload that follows a gap in the store's events. Returns an unsubscribe function. */
  onReloaded(listener: () => void): () => void {
    this.reloaded.add(listener);
    return () => this.reloaded.delete(listener);
  }

  close(): void {
    for (const stop of this.unsubscribe.splice(0)) stop();
    this.reloaded.clear();
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

  private async reloadAfterGap(): Promise<void> {
    const before = this.size;
    try {
      await this.load();
    } catch (err) {
      this.logger?.error({ event: 'revocations-reload-failed', err }, 'revocations could not be read again after a gap in store events');
      return;
    }
    const after = this.size;
    this.logger?.info({ event: 'revocations-reloaded', newSerials: after.serials - before.serials, newSubjects: after.subjects - before.subjects }, 'revocations read again after a gap in store events');
    for (const listener of this.reloaded) {
      try {
        listener();
      } catch (err) {
        this.logger?.error({ event: 'revocations-listener-failed', err }, 'a revocation reload listener threw');
      }
    }
  }
}
