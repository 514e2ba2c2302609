import type { AddressInfo } from 'node:net';
import type { Server as TlsServer } from 'node:tls';
import fastify, { LogController, type FastifyBaseLogger } from 'fastify';
import { IssuingWorkers } from '../certs/issuing-workers.js';
import { registerStoreHealthMetrics } from '../store/health-metrics.js';
import { RevocationCache } from '../store/revocation-cache.js';
import { requireApiAccess } from './auth.js';
import type { ProvisionerContext } from './context.js';
import { CrlPublisher } from './crl-publisher.js';
import { EnrollGuard } from './enroll-guard.js';
import { estRoutes } from './est-routes.js';
import { EST_PATH } from './est-wire.js';
import { healthRoutes } from './health-routes.js';
import { installErrorHandling } from './http-errors.js';
import { createProvisionerMetrics, type ProvisionerMetrics } from './metrics.js';
import { resolveProvisionerOptions, type ProvisionerOptionsInput, type ProvisionerTls } from './options.js';
import { deviceRoutes } from './rest-devices.js';
import { fleetRoutes } from './rest-fleet.js';
import { rotationRoutes } from './rest-rotations.js';

export type { ProvisionerOptions, ProvisionerOptionsInput, ProvisionerTls, RateLimit } from './options.js';

export interface Provisioner {
  /** Starts listening; resolves with the bound address. */
  listen(): Promise<AddressInfo>;
  /** Reloads the server certificate and CA bundle for new connections. */
  reloadTls(): Promise<void>;
  /** Stops accepting, closes open connections, releases the store subscriptions. The store stays open. */
  close(): Promise<void>;
  readonly metrics: ProvisionerMetrics;
}

function secureContextOptions(tls: ProvisionerTls) {
  return { ca: [...tls.ca], cert: tls.cert, key: tls.key };
}

/**
 * Builds the provisioner: fastify over HTTPS with EST under `/.well-known/est/`, the REST API under
 * `/v1`, health and metrics. Client certificates are requested but optional (one port for Basic-auth
 * enrollment and mutual-TLS re-enrollment); routes that rely on one check `socket.authorized` themselves.
 */
export async function createProvisioner(input: ProvisionerOptionsInput): Promise<Provisioner> {
  const opts = resolveProvisionerOptions(input);
  const tls = await opts.tls();
  const log = opts.logger.child({ component: 'provisioner' });
  const metrics = createProvisionerMetrics();
  registerStoreHealthMetrics(metrics.registry, 'fleetkey_provisioner_', () => opts.store.health());
  const revocations = await RevocationCache.open(opts.store, log);
  const crl = new CrlPublisher(opts.ca, opts.store, opts.crlNextUpdateHours, metrics, log);
  try {
    await crl.start();
  } catch (err) {
    crl.close();
    revocations.close();
    throw err;
  }
  const workers = new IssuingWorkers(opts.ca, opts.issuingWorkers, log);
  const deps = { issuer: { workers, ca: opts.ca, lifetimeDays: opts.deviceLifetimeDays }, store: opts.store, revocations };
  const guard = new EnrollGuard({ ip: opts.ipRateLimit, device: opts.deviceRateLimit }, opts.store, metrics, log);
  const ctx: ProvisionerContext = { opts, store: opts.store, log, metrics, deps, revocations, guard, crl };

  const app = fastify({
    https: { ...secureContextOptions(tls), requestCert: true, rejectUnauthorized: false, minVersion: 'TLSv1.2' },
    bodyLimit: opts.bodyLimitBytes,
    loggerInstance: log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    forceCloseConnections: true,
    return503OnClosing: true,
    ajv: { customOptions: { removeAdditional: false } },
  });
  installErrorHandling(app, log, metrics);
  await app.register(async (est) => estRoutes(est, { deps, guard, metrics }), { prefix: EST_PATH });
  await app.register(async (v1) => {
    requireApiAccess(v1, opts.store);
    await deviceRoutes(v1, ctx);
    await fleetRoutes(v1, ctx);
    await rotationRoutes(v1, ctx);
  }, { prefix: '/v1' });
  await app.register(async (health) => healthRoutes(health, ctx));

  const server = app.server as unknown as TlsServer;
  server.on('tlsClientError', (err, socket) => {
    log.info({ event: 'tls-refused', remote: socket.remoteAddress, error: err.message }, 'TLS handshake failed');
  });
  server.on('secureConnection', (socket) => socket.setNoDelay(true));

  return {
    metrics,
    async listen() {
      await app.listen({ host: opts.host, port: opts.port });
      const address = server.address() as AddressInfo;
      log.info({ event: 'listening', host: address.address, port: address.port }, 'provisioner listening');
      return address;
    },
    async reloadTls() {
      server.setSecureContext(secureContextOptions(await opts.tls()));
      log.info({ event: 'tls-reloaded' }, 'TLS material reloaded');
    },
    async close() {
      crl.close();
      revocations.close();
      await app.close();
      await workers.close();
    },
  };
}
