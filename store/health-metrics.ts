import { Counter, Gauge, type Registry } from 'prom-client';
import type { StoreHealth } from './backup-records.js';

const STATES: readonly StoreHealth['state'][] = ['ok', 'unverified', 'lost'];

/**
 * The store's health as one service sees it, read at scrape time: `<prefix>store_state{state}` is 1
 * for the state the store is in (`lost`: its identity marker vanished, every operation refuses) and
 * `<prefix>store_unreplicated_writes_total` counts durable writes no replica acknowledged.
 */
export function registerStoreHealthMetrics(registry: Registry, prefix: string, health: () => StoreHealth): void {
  new Gauge({
    name: `${prefix}store_state`,
    help: 'The state store as this process sees it: 1 for the current state (ok, unverified after a reconnect, lost)',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const now = health().state;
      for (const state of STATES) this.set({ state }, state === now ? 1 : 0);
    },
  });
  let counted = 0;
  new Counter({
    name: `${prefix}store_unreplicated_writes_total`,
    help: 'Durable store writes that no replica acknowledged in time (applied on the primary only)',
    registers: [registry],
    collect() {
      const now = health().unreplicatedWrites;
      if (now > counted) this.inc(now - counted);
      counted = Math.max(counted, now);
    },
  });
}
