import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { initDataDir } from '../../certs/init.js';
import { provisionerDefaults } from '../../provisioner/options.js';
import { openStore } from '../../store/index.js';
import { ApiClient } from '../api-client.js';
import { dataDirFiles, readCaPems } from '../data-dir.js';
import { runBroker } from '../run-broker.js';
import { runKdc } from '../run-kdc.js';
import { runProvisioner } from '../run-provisioner.js';

/** What `fleetkey up` runs, on free loopback ports of a fresh data dir, and how to reach it. */
export interface DemoStack {
  readonly dir: string;
  readonly provisionerUrl: string;
  readonly brokerUrl: string;
  /** The fleet CA, one PEM per certificate. */
  readonly caPems: string[];
  /** REST client with the bootstrap admin token. */
  readonly api: ApiClient;
  close(): Promise<void>;
}

/** `fleetkey init` into `dir`. */
export function initDemoDir(dir: string): void {
  initDataDir({ dir, name: 'fleetkey-demo' });
}

/**
 * Provisioner, broker and KDC in this process on the `file:` store of `dir`, as `fleetkey up`
 * starts them, each on a port the system picks; metrics listeners off. `switchAfterSeconds` is
 * the KDC's default for rotations.
 */
export async function startDemoStack(dir: string, logger: Logger, switchAfterSeconds: number): Promise<DemoStack> {
  const stops: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop().catch((err: unknown) => logger.warn({ err }, 'demo: stopping a service failed'));
  };
  try {
    const store = await openStore(`file:${dir}`, { logger });
    stops.push(() => store.close());
    const provisioner = await runProvisioner({
      dir, store, logger, host: '127.0.0.1', port: 0,
      ipRateLimit: provisionerDefaults.ipRateLimit, deviceRateLimit: provisionerDefaults.deviceRateLimit,
      enrollmentTokenTtlSeconds: provisionerDefaults.enrollmentTokenTtlSeconds,
      deviceLifetimeDays: provisionerDefaults.deviceLifetimeDays, bootstrapToken: true,
    });
    stops.push(() => provisioner.close());
    const broker = await runBroker({
      dir, store, storeUrl: `file:${dir}`, storePrefix: '', logger,
      host: '127.0.0.1', port: 0, metricsHost: '127.0.0.1', metricsPort: -1,
      maxPacketBytes: 64 * 1024, keepalive: { min: 5, max: 3600 }, maxInflightMessages: 100,
    });
    stops.push(() => broker.close());
    const brokerUrl = `mqtts://127.0.0.1:${broker.port}`;
    const kdc = await runKdc({
      dir, store, logger, brokerUrl, name: 'demo',
      switchAfterSeconds, rotateEverySeconds: 0, graceSeconds: 300, retainEpochs: 2,
      workers: undefined, consumerCertFiles: undefined, metricsHost: '127.0.0.1', metricsPort: -1,
    });
    stops.push(() => kdc.close());
    const caPems = readCaPems(dir);
    const token = readFileSync(join(dir, dataDirFiles.adminToken), 'utf8').trim();
    const api = new ApiClient({ url: provisioner.url, token, ca: caPems, concurrency: 8 });
    stops.push(async () => api.close());
    return { dir, provisionerUrl: provisioner.url, brokerUrl, caPems, api, close };
  } catch (err) {
    await close();
    throw err;
  }
}
