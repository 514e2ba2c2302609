import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { action } from '../program.js';
import { runProvisioner } from '../run-provisioner.js';
import { addServiceOptions, announceStarted, openServiceStore, parseIntOption, superviseService, type ServiceCliOptions } from '../service-options.js';

interface ProvisionerCliOptions extends ServiceCliOptions {
  host: string;
  port: number;
  ipRate: number;
  ipBurst: number;
  deviceRate: number;
  deviceBurst: number;
  tokenTtlHours: number;
  certDays: number;
  workers?: number;
  adminToken: boolean;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0 && Number.isFinite(n))) throw new Error(`not a positive number: ${value}`);
  return n;
}

const HELP = `
Endpoints: EST (RFC 7030) under /.well-known/est/ (cacerts, simpleenroll, simplereenroll, serverkeygen,
csrattrs), the REST API under /v1, /healthz, /readyz, /metrics. See docs/provisioner.md.

Files it writes in the data dir:
  provisioner/endpoint.json   its URL, for fleetkey devices/provision/revoke/status/tokens on this machine
  provisioner/admin.token     on the first start only (0600): a bootstrap admin API token. Delete the
                              file to have the next start make a new one (--no-admin-token: never).

Signals: SIGHUP reloads the server certificate and CA bundle; SIGTERM/SIGINT stop it.`;

export function registerProvisioner(program: Command): void {
  const cmd = program
    .command('provisioner')
    .description('run the provisioner alone: EST enrollment for devices, REST API for factory tools and operators')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'HTTPS port', parseIntOption, 8443)
    .option('--ip-rate <per-second>', 'enrollment attempts per client IP and second', positiveNumber, 20)
    .option('--ip-burst <n>', 'enrollment attempts a client IP may make at once', parseIntOption, 100)
    .option('--device-rate <per-minute>', 'enrollment attempts per device id and minute', positiveNumber, 1)
    .option('--device-burst <n>', 'enrollment attempts per device id at once', parseIntOption, 5)
    .option('--token-ttl-hours <h>', 'how long an enrollment token works after registration', parseIntOption, 168)
    .option('--cert-days <days>', 'lifetime of issued device certificates', parseIntOption, 90)
    .option('--workers <n>', 'worker threads that check requests and sign certificates (default: one per core beyond the first, 1 to 4; 0: on the event loop)', parseIntOption)
    .option('--no-admin-token', 'do not write provisioner/admin.token on first start');
  addServiceOptions(cmd)
    .addHelpText('after', HELP)
    .action(action(async (opts: ProvisionerCliOptions) => {
      const logger = createLogger('fleetkey-provisioner', opts.logLevel);
      const store = await openServiceStore(opts, logger);
      const service = await superviseService(store, logger, () => runProvisioner({
        dir: opts.dir,
        store,
        logger,
        host: opts.host,
        port: opts.port,
        ipRateLimit: { perSecond: opts.ipRate, burst: opts.ipBurst },
        deviceRateLimit: { perSecond: opts.deviceRate / 60, burst: opts.deviceBurst },
        enrollmentTokenTtlSeconds: opts.tokenTtlHours * 3600,
        deviceLifetimeDays: opts.certDays,
        issuingWorkers: opts.workers,
        bootstrapToken: opts.adminToken,
      }));
      const started = {
        service: 'provisioner',
        url: service.url,
        est: `${service.url}/.well-known/est`,
        metrics: `${service.url}/metrics`,
        adminTokenFile: service.adminToken?.path ?? null,
        adminTokenCreated: service.adminToken?.created ?? false,
      };
      announceStarted(opts, logger, started, `provisioner listening on ${service.url}`);
    }));
}
