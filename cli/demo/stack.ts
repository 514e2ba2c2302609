import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { initDataDir } from '../../certs/init.js';
import { ApiClient } from '../api-client.js';
import { dataDirFiles, readCaPems } from '../data-dir.js';
import { startEmbeddedStack } from '../embedded-stack.js';

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
  const stack = await startEmbeddedStack({
    dir, logger, host: '127.0.0.1', httpsPort: 0, mqttPort: 0, brokerMetricsPort: -1, kdcMetricsPort: -1,
    kdcName: 'demo', switchAfterSeconds, rotateEverySeconds: 0,
  });
  try {
    const caPems = readCaPems(dir);
    const token = readFileSync(join(dir, dataDirFiles.adminToken), 'utf8').trim();
    const api = new ApiClient({ url: stack.provisioner.url, token, ca: caPems, concurrency: 8 });
    const close = async (): Promise<void> => {
      api.close();
      await stack.close();
    };
    return { dir, provisionerUrl: stack.provisioner.url, brokerUrl: stack.brokerUrl, caPems, api, close };
  } catch (err) {
    await stack.close();
    throw err;
  }
}
