/**
 * What the soak makes before it starts anything: a data dir (`fleetkey init` material), factory bundles
 * for every device in one directory per simulator, recorded in the store as enrollment would record
 * them (enrollment is not what the soak measures). The store is the data dir's `file:` store (closed
 * again before `fleetkey up` takes it) or, for the cluster, a throwaway Redis.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFleetCa } from '../../certs/ca.js';
import { initDataDir } from '../../certs/init.js';
import { makeBundle, recordBundles, trustOf, writeBundle } from '../../device-sim/index.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { startBenchRedis, type BenchRedis } from '../redis-server.js';

export const SOAK_PREFIX = 'soak:';

export interface SoakSetup {
  readonly dir: string;
  /** One bundles directory per simulator; device i is in group i mod groups. */
  readonly groups: readonly string[];
  /** Set for the cluster. */
  readonly redis: BenchRedis | undefined;
  readonly storeUrl: string;
  readonly seconds: number;
  cleanup(): Promise<void>;
}

export async function setUpSoak(devices: number, groupCount: number, cluster: boolean): Promise<SoakSetup> {
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'fleetkey-soak-'));
  const dir = join(root, 'data');
  const groups = Array.from({ length: groupCount }, (_, g) => join(root, 'bundles', `sim-${g}`));
  initDataDir({ dir, name: 'soak' });
  const ca = loadFleetCa(join(dir, 'ca'));
  const trust = trustOf(ca);
  const redis = cluster ? await startBenchRedis() : undefined;
  const storeUrl = redis?.url ?? `file:${dir}`;
  const store = await openStore(storeUrl, redis ? { prefix: SOAK_PREFIX } : { identity: join(dir, IDENTITY_FILE) });
  try {
    const width = String(devices).length;
    for (let i = 0; i < devices; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, devices - i) }, (_, j) => makeBundle(ca, `soak-${String(i + j).padStart(width, '0')}`, { trust }));
      batch.forEach((b, j) => writeBundle(groups[(i + j) % groupCount]!, b, trust));
      await recordBundles(store, batch);
    }
  } finally {
    await store.close();
  }
  return {
    dir, groups, redis, storeUrl,
    seconds: (performance.now() - started) / 1000,
    async cleanup() {
      await redis?.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
