import type { Logger } from 'pino';
import { redisClusterBackends, type ClusterBackends } from '../broker/cluster.js';
import type { BrokerLimits } from '../broker/options.js';
import { createBroker } from '../broker/server.js';
import type { Store } from '../store/types.js';
import { readServerTls } from './data-dir.js';
import { serveMetrics, storeAnswers } from './metrics-server.js';

export interface BrokerServiceConfig {
  readonly dir: string;
  readonly store: Store;
  readonly storeUrl: string;
  readonly storePrefix: string;
  readonly logger: Logger;
  readonly host: string;
  readonly port: number;
  readonly metricsHost: string;
  /** 0 picks a free port; negative disables the metrics listener. */
  readonly metricsPort: number;
  readonly maxPacketBytes: number;
  readonly keepalive: { readonly min: number; readonly max: number };
  readonly maxInflightMessages: number;
  /** Memory and connect-load limits; each one left out takes its default (broker/options.ts). */
  readonly limits?: Partial<BrokerLimits>;
}

export interface RunningBrokerService {
  readonly port: number;
  readonly metricsPort: number | undefined;
  reloadTls(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The broker as a service: TLS from the data dir, cluster wiring on a Redis store, metrics listener
 * (`/readyz`: the store answers, the revoked set is current and unsent bytes are under the cap).
 */
export async function runBroker(config: BrokerServiceConfig): Promise<RunningBrokerService> {
  const cluster: ClusterBackends | undefined = config.storeUrl.startsWith('redis')
    ? await redisClusterBackends(config.storeUrl, config.storePrefix)
    : undefined;
  const broker = await createBroker({
    host: config.host,
    port: config.port,
    tls: () => readServerTls(config.dir),
    store: config.store,
    logger: config.logger,
    maxPacketBytes: config.maxPacketBytes,
    keepalive: config.keepalive,
    maxInflightMessages: config.maxInflightMessages,
    ...config.limits,
    cluster,
  }).catch(async (err: unknown) => {
    await cluster?.destroy();
    throw err;
  });
  const address = await broker.listen().catch(async (err: unknown) => {
    await broker.close();
    await cluster?.destroy();
    throw err;
  });
  const storeReady = storeAnswers(config.store);
  // Ready only while CONNECTs can be checked: the store answers and the revoked set is known current.
  const ready = async (): Promise<void> => {
    if (!broker.isReady()) throw new Error('revocations may be stale: new CONNECTs get CONNACK 3');
    if (broker.isOverloaded()) throw new Error('unsent bytes are over the cap (--max-buffered-bytes): new CONNECTs get CONNACK 3');
    await storeReady();
  };
  const metrics = config.metricsPort >= 0 ? await serveMetrics(broker.metrics.registry, config.metricsHost, config.metricsPort, ready) : undefined;
  return {
    port: address.port,
    metricsPort: metrics?.port,
    reloadTls: () => broker.reloadTls(),
    async close() {
      metrics?.server.close();
      await broker.close();
      await cluster?.destroy();
    },
  };
}
