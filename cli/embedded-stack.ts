import { join } from 'node:path';
import type { Logger } from 'pino';
import { provisionerDefaults } from '../provisioner/options.js';
import { IDENTITY_FILE } from '../store/identity.js';
import { openStore } from '../store/index.js';
import type { BrokerLimits } from '../broker/options.js';
import { runBroker, type RunningBrokerService } from './run-broker.js';
import { runKdc, type RunningKdcService } from './run-kdc.js';
import { runProvisioner, type RunningProvisionerService } from './run-provisioner.js';
import { reachableHost } from './service-options.js';

export interface EmbeddedStackConfig {
  readonly dir: string;
  readonly logger: Logger;
  /** Address every listener binds to. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly httpsPort: number;
  readonly mqttPort: number;
  /** Broker and KDC Prometheus ports: 0 picks a free one, negative disables the listener. */
  readonly brokerMetricsPort: number;
  readonly kdcMetricsPort: number;
  /** The broker's memory and connect-load limits; defaults when left out. */
  readonly brokerLimits?: Partial<BrokerLimits>;
  /** The KDC's MQTT client id is `kdc-<kdcName>`. */
  readonly kdcName: string;
  readonly switchAfterSeconds: number;
  readonly rotateEverySeconds: number;
}

export interface EmbeddedStack {
  readonly provisioner: RunningProvisionerService;
  readonly broker: RunningBrokerService;
  readonly kdc: RunningKdcService;
  /** mqtts:// URL the broker is reached at (loopback for a wildcard listen address). */
  readonly brokerUrl: string;
  /** Stops the KDC, broker, provisioner and store, in that order; a step that fails is logged and the rest still run. */
  close(): Promise<void>;
}

/**
 * Provisioner, broker and KDC in this process on the `file:` store of an initialised data dir, with
 * the services' defaults: what `fleetkey up` and `fleetkey demo` run. A failed start stops what had started.
 */
export async function startEmbeddedStack(config: EmbeddedStackConfig): Promise<EmbeddedStack> {
  const { dir, logger, host } = config;
  const stops: Array<() => Promise<void>> = [];
  const close = async (): Promise<void> => {
    for (const stop of stops.splice(0).reverse()) await stop().catch((err: unknown) => logger.warn({ err }, 'stopping a service failed'));
  };
  try {
    const store = await openStore(`file:${dir}`, { logger, identity: join(dir, IDENTITY_FILE) });
    stops.push(() => store.close());
    const provisioner = await runProvisioner({
      dir, store, logger, host, port: config.httpsPort,
      ipRateLimit: provisionerDefaults.ipRateLimit, deviceRateLimit: provisionerDefaults.deviceRateLimit,
      enrollmentTokenTtlSeconds: provisionerDefaults.enrollmentTokenTtlSeconds,
      deviceLifetimeDays: provisionerDefaults.deviceLifetimeDays, bootstrapToken: true,
    });
    stops.push(() => provisioner.close());
    const broker = await runBroker({
      dir, store, storeUrl: `file:${dir}`, storePrefix: '', logger,
      host, port: config.mqttPort, metricsHost: host, metricsPort: config.brokerMetricsPort,
      maxPacketBytes: 64 * 1024, keepalive: { min: 5, max: 3600 }, maxInflightMessages: 100,
      ...(config.brokerLimits ? { limits: config.brokerLimits } : {}),
    });
    stops.push(() => broker.close());
    const brokerUrl = `mqtts://${reachableHost(host)}:${broker.port}`;
    const kdc = await runKdc({
      dir, store, logger, brokerUrl, name: config.kdcName,
      switchAfterSeconds: config.switchAfterSeconds, rotateEverySeconds: config.rotateEverySeconds, graceSeconds: 300, retainEpochs: 2,
      workers: undefined, consumerCertFiles: undefined, metricsHost: host, metricsPort: config.kdcMetricsPort,
    });
    stops.push(() => kdc.close());
    return { provisioner, broker, kdc, brokerUrl, close };
  } catch (err) {
    await close();
    throw err;
  }
}
