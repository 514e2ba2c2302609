import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';
import { Registry } from 'prom-client';
import { FleetkeyError } from '../errors/index.js';
import { createKdc, type Kdc } from '../kdc/index.js';
import type { Store } from '../store/types.js';
import { dataDirFiles, readServiceIdentity } from './data-dir.js';
import { serveMetrics } from './metrics-server.js';

export interface KdcServiceConfig {
  readonly dir: string;
  readonly store: Store;
  readonly logger: Logger;
  /** mqtts://host:port of the broker. */
  readonly brokerUrl: string;
  readonly name: string;
  readonly switchAfterSeconds: number;
  readonly rotateEverySeconds: number;
  readonly graceSeconds: number;
  readonly retainEpochs: number;
  /** Undefined: the KDC's default (the machine's cores). */
  readonly workers: number | undefined;
  /** Devices per rotation step; undefined: the KDC's default. */
  readonly rotationBatch?: number | undefined;
  /** Consumer certificate files; default the data dir's services/consumer.pem when it exists. */
  readonly consumerCertFiles: readonly string[] | undefined;
  readonly metricsHost: string;
  /** 0 picks a free port; negative disables the metrics listener. */
  readonly metricsPort: number;
}

export interface RunningKdcService {
  readonly kdc: Kdc;
  readonly metricsPort: number | undefined;
  close(): Promise<void>;
}

/**
 * The KEK: `FLEETKEY_KEK` (base64) or the data dir's `kek` file (32 raw bytes, mode 0600).
 * Only the KDC reads it.
 */
export function loadKek(dir: string, env: NodeJS.ProcessEnv = process.env): Buffer {
  const fromEnv = env.FLEETKEY_KEK;
  if (fromEnv) {
    const kek = Buffer.from(fromEnv, 'base64');
    if (kek.length !== 32) throw new FleetkeyError('KEK_INVALID', 'FLEETKEY_KEK is not 32 bytes of base64');
    return kek;
  }
  const file = join(resolve(dir), dataDirFiles.kek);
  let kek: Buffer;
  try {
    kek = readFileSync(file);
  } catch (err) {
    throw new FleetkeyError('DATA_DIR_INCOMPLETE', `${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
  }
  if (kek.length !== 32) throw new FleetkeyError('KEK_INVALID', `${file} holds ${kek.length} bytes, expected 32`);
  if ((statSync(file).mode & 0o077) !== 0) throw new FleetkeyError('KEK_INVALID', `${file} is readable by others than its owner (chmod 600)`);
  return kek;
}

/** The KDC's epoch high-water mark in the data dir (docs/kdc.md "Epoch numbers never go back"): one per instance name. */
export function highWaterFile(dir: string, name: string): string {
  return join(resolve(dir), 'kdc', `${name}.epoch`);
}

/** The KDC as a service: identity and KEK from the data dir, consumer certificates, metrics listener. */
export async function runKdc(config: KdcServiceConfig): Promise<RunningKdcService> {
  const identity = readServiceIdentity(config.dir, 'kdc');
  const defaultConsumer = join(resolve(config.dir), dataDirFiles.serviceCert('consumer'));
  const consumerFiles = config.consumerCertFiles ?? (existsSync(defaultConsumer) ? [defaultConsumer] : []);
  const registry = new Registry();
  const kdc = await createKdc({
    broker: { url: config.brokerUrl, ...identity },
    name: config.name,
    kek: loadKek(config.dir),
    highWaterFile: highWaterFile(config.dir, config.name),
    store: config.store,
    logger: config.logger,
    switchAfterSeconds: config.switchAfterSeconds,
    rotateEverySeconds: config.rotateEverySeconds,
    graceSeconds: config.graceSeconds,
    retainEpochs: config.retainEpochs,
    ...(config.workers === undefined ? {} : { workers: config.workers }),
    ...(config.rotationBatch === undefined ? {} : { rotationBatch: config.rotationBatch }),
    consumerCertificates: consumerFiles.map((file) => readFileSync(file, 'utf8')),
    registry,
  });
  const metrics = config.metricsPort >= 0
    ? await serveMetrics(registry, config.metricsHost, config.metricsPort).catch(async (err: unknown) => {
      await kdc.close();
      throw err;
    })
    : undefined;
  return {
    kdc,
    metricsPort: metrics?.port,
    async close() {
      metrics?.server.close();
      await kdc.close();
    },
  };
}
