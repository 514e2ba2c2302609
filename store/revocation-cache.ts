import type { Store } from './types.js';

/**
 * Revoked serials and devices, in memory, for the broker's CONNECT check: synchronous O(1) lookups.
 * It subscribes before it loads, so a revocation made while loading is not missed (adding twice is harmless).
 * A subject counts as revoked when its device was revoked (`device-changed` → revoked), not when one of
 * its certificates was (superseded on re-enrollment, say).
 */
export class RevocationCache {
  private readonly serials = new Set<string>();
  private readonly subjects = new Set<string>();
  private readonly unsubscribe: (() => void)[];

  private constructor(store: Store) {
    this.unsubscribe = [
      store.on('revoked', (event) => {
        for (const serial of event.serials) this.serials.add(serial);
      }),
      store.on('device-changed', (event) => {
        if (event.status === 'revoked') this.subjects.add(event.deviceId);
      }),
    ];
  }

  static async open(store: Store): Promise<RevocationCache> {
    const cache = new RevocationCache(store);
    try {
      for (const r of await store.listRevocations()) cache.serials.add(r.serial);
      let cursor: string | undefined;
      do {
        const page = await store.listDevices({ status: 'revoked', limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
        for (const d of page.devices) cache.subjects.add(d.id);
        cursor = page.nextCursor;
      } while (cursor !== undefined);
    } catch (err) {
      cache.close();
      throw err;
    }
    return cache;
  }

  isRevoked(serial: string): boolean {
    return this.serials.has(serial);
  }

  isSubjectRevoked(subject: string): boolean {
    return this.subjects.has(subject);
  }

  get size(): { serials: number; subjects: number } {
    return { serials: this.serials.size, subjects: this.subjects.size };
  }

  close(): void {
    for (const stop of this.unsubscribe.splice(0)) stop();
  }
}
