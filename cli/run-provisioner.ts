import { join } from 'node:path';
import type { Logger } from 'pino';
import { loadFleetCa } from '../certs/ca.js';
import { createProvisioner, type RateLimit } from '../provisioner/index.js';
import type { Store } from '../store/types.js';
import { readServerTls } from './data-dir.js';
import { ensureAdminToken, removeEndpoint, writeEndpoint } from './provisioner-files.js';
import { reachableHost } from './service-options.js';

export interface ProvisionerServiceConfig {
  readonly dir: string;
  readonly store: Store;
  readonly logger: Logger;
  readonly host: string;
  readonly port: number;
  readonly ipRateLimit: RateLimit;
  readonly deviceRateLimit: RateLimit;
  readonly enrollmentTokenTtlSeconds: number;
  readonly deviceLifetimeDays: number;
  /** Threads that check requests and sign certificates; undefined: one per core beyond the first, 1 to 4. */
  readonly issuingWorkers?: number | undefined;
  /** Make provisioner/admin.token on first start. */
  readonly bootstrapToken: boolean;
}

export interface RunningProvisionerService {
  readonly port: number;
  readonly url: string;
  /** Path of the bootstrap admin token file (when enabled) and whether this start made it. */
  readonly adminToken: { path: string; created: boolean } | undefined;
  reloadTls(): Promise<void>;
  close(): Promise<void>;
}

/** The URL the CLI should use. */
function urlFor(host: string, port: number): string {
  return `https://${reachableHost(host)}:${port}`;
}

/** The provisioner as a service: CA and TLS from the data dir, the endpoint file, the bootstrap admin token. */
export async function runProvisioner(config: ProvisionerServiceConfig): Promise<RunningProvisionerService> {
  const ca = loadFleetCa(join(config.dir, 'ca'));
  const provisioner = await createProvisioner({
    host: config.host,
    port: config.port,
    tls: () => readServerTls(config.dir),
    ca,
    store: config.store,
    logger: config.logger,
    ipRateLimit: config.ipRateLimit,
    deviceRateLimit: config.deviceRateLimit,
    enrollmentTokenTtlSeconds: config.enrollmentTokenTtlSeconds,
    deviceLifetimeDays: config.deviceLifetimeDays,
    ...(config.issuingWorkers === undefined ? {} : { issuingWorkers: config.issuingWorkers }),
  });
  try {
    const address = await provisioner.listen();
    const url = urlFor(config.host, address.port);
    writeEndpoint(config.dir, url);
    const adminToken = config.bootstrapToken ? await ensureAdminToken(config.dir, config.store, config.logger) : undefined;
    return {
      port: address.port,
      url,
      adminToken,
      reloadTls: () => provisioner.reloadTls(),
      async close() {
        removeEndpoint(config.dir);
        await provisioner.close();
      },
    };
  } catch (err) {
    removeEndpoint(config.dir);
    await provisioner.close();
    throw err;
  }
}
