/**
 * What the fleet bench makes before it measures anything: a data dir (`fleetkey init`: CA, broker and
 * service certificates, KEK), a throwaway Redis for the store, and factory bundles for every device,
 * made in this process with the CA and recorded in the store as enrollment would, so that
 * enrollment is not part of what is measured.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadFleetCa } from '../../certs/ca.js';
import { initDataDir } from '../../certs/init.js';
import { makeBundle, recordBundles, trustOf, writeBundle } from '../../device-sim/index.js';
import { openStore } from '../../store/index.js';
import { startBenchRedis, type BenchRedis } from '../redis-server.js';
import { STORE_PREFIX } from './children.js';

export interface FleetBenchSetup {
  readonly dir: string;
  /** Every bundle, or with `groups` the first group's. */
  readonly bundles: string;
  /** One directory per group (device i in group i mod groups). */
  readonly groups: readonly string[];
  readonly redis: BenchRedis;
  readonly devices: number;
  readonly seconds: number;
  cleanup(): Promise<void>;
}

export interface SetUpOptions {
  /** Split the bundles into this many directories, e.g. one per broker. Default 1. */
  readonly groups?: number;
  /** A Redis that survives SIGKILL (bench/redis-server.ts). */
  readonly durable?: boolean;
}

export async function setUp(devices: number, opts: SetUpOptions = {}): Promise<FleetBenchSetup> {
  const started = performance.now();
  const root = mkdtempSync(join(tmpdir(), 'fleetkey-bench-fleet-'));
  const dir = join(root, 'data');
  const bundles = join(root, 'bundles');
  const groupCount = opts.groups ?? 1;
  const groups = groupCount === 1 ? [bundles] : Array.from({ length: groupCount }, (_, g) => join(bundles, `group-${g}`));
  initDataDir({ dir, name: 'fleet bench' });
  const ca = loadFleetCa(join(dir, 'ca'));
  const trust = trustOf(ca);
  const redis = await startBenchRedis({ durable: opts.durable ?? false });
  const store = await openStore(redis.url, { prefix: STORE_PREFIX });
  try {
    const width = String(devices).length;
    for (let i = 0; i < devices; i += 1000) {
      const batch = Array.from({ length: Math.min(1000, devices - i) }, (_, j) => makeBundle(ca, `bench-${String(i + j).padStart(width, '0')}`, { trust }));
      batch.forEach((b, j) => writeBundle(groups[(i + j) % groupCount]!, b, trust));
      await recordBundles(store, batch);
    }
  } finally {
    await store.close();
  }
  return {
    dir,
    bundles: groups[0]!,
    groups,
    redis,
    devices,
    seconds: (performance.now() - started) / 1000,
    async cleanup() {
      await redis.stop();
      rmSync(root, { recursive: true, force: true });
    },
  };
}
