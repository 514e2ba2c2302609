import type { Logger } from 'pino';
import type { Command } from 'commander';
import { untilStoreAnswers } from './open-store.js';

export { openServiceStore, storeUrl } from './open-store.js';

/** The host to dial for a listen address: a wildcard listen address is reached on loopback (in the server certificate). */
export function reachableHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** Options every long-running service shares. */
export interface ServiceCliOptions {
  dir: string;
  store?: string;
  storePrefix: string;
  logLevel?: string;
  json?: boolean;
}

/** Adds --dir, --store, --store-prefix, --log-level, --json. Environment: FLEETKEY_DIR, FLEETKEY_STORE, FLEETKEY_STORE_PREFIX. */
export function addServiceOptions(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'data directory made by `fleetkey init` (env FLEETKEY_DIR)', process.env.FLEETKEY_DIR ?? './data')
    .option('--store <url>', 'state store: file:<dir> or redis://host:port/db (env FLEETKEY_STORE; default file:<data dir>)', process.env.FLEETKEY_STORE)
    .option('--store-prefix <prefix>', 'key prefix on Redis, so fleets can share one server (env FLEETKEY_STORE_PREFIX)', process.env.FLEETKEY_STORE_PREFIX ?? 'fleetkey:')
    .option('--log-level <level>', 'pino log level (env FLEETKEY_LOG_LEVEL)', process.env.FLEETKEY_LOG_LEVEL ?? 'info')
    .option('--json', 'print the started endpoints as one JSON line');
}

export function parseIntOption(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new Error(`not a whole number: ${value}`);
  return n;
}

/** Runs `stop` once on SIGINT or SIGTERM, then exits; a second signal exits at once. */
export function onShutdown(stop: () => Promise<void>, log: { info(obj: object, msg: string): void }): void {
  let stopping = false;
  const handler = (signal: NodeJS.Signals) => {
    if (stopping) process.exit(1);
    stopping = true;
    log.info({ event: 'shutdown', signal }, 'shutting down');
    stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

interface RunningService {
  close(): Promise<void>;
  reloadTls?(): Promise<void>;
}

/**
 * Starts a service on an open store and supervises it the way every service command does: a start
 * that fails because the store went away meanwhile is tried again once it answers (cli/open-store.ts);
 * the store is closed if the start fails otherwise; SIGHUP reloads the TLS material (where the service has any);
 * SIGTERM/SIGINT close the service, then the store.
 */
export async function superviseService<S extends RunningService>(
  store: { close(): Promise<void> },
  logger: Logger,
  start: () => Promise<S>,
): Promise<S> {
  const service = await untilStoreAnswers(logger, 'start', start).catch(async (err: unknown) => {
    await store.close();
    throw err;
  });
  if (service.reloadTls) {
    const reload = service.reloadTls.bind(service);
    process.on('SIGHUP', () => {
      reload().catch((err: unknown) => logger.error({ event: 'tls-reload-failed', err }, 'TLS reload failed'));
    });
  }
  onShutdown(async () => {
    await service.close();
    await store.close();
  }, logger);
  return service;
}

/** Says a service started: one JSON line on stdout with --json, otherwise a log line. */
export function announceStarted(opts: { json?: boolean }, logger: Logger, started: { service: string } & Record<string, unknown>, message: string): void {
  if (opts.json) process.stdout.write(`${JSON.stringify(started)}\n`);
  else logger.info({ event: 'started', ...started }, message);
}
