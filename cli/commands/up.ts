import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { initDataDir } from '../../certs/init.js';
import { dataDirFiles } from '../data-dir.js';
import { createLogger } from '../logger.js';
import { action } from '../program.js';
import { startEmbeddedStack } from '../embedded-stack.js';
import { onShutdown, parseIntOption } from '../service-options.js';
import { addBrokerLimitOptions, brokerLimits, type BrokerLimitCliOptions } from './broker.js';

interface UpCliOptions extends BrokerLimitCliOptions {
  dir: string;
  name: string;
  host: string;
  mqttPort: number;
  httpsPort: number;
  metricsPort: number;
  kdcMetricsPort?: number;
  switchAfter: number;
  rotateEvery: number;
  logLevel: string;
  json?: boolean;
}

/**
 * `fleetkey up`: provisioner, broker and KDC in one process on the embedded store. A first run makes the
 * data dir; later runs continue with the same CA, devices and epochs.
 */
export function registerUp(program: Command): void {
  const cmd = program
    .command('up')
    .description('run provisioner, broker and KDC in one process on the embedded store (makes the data dir on first run)')
    .option('--dir <dir>', 'data directory (env FLEETKEY_DIR)', process.env.FLEETKEY_DIR ?? './data')
    .option('--name <name>', 'fleet name for a new CA', 'fleetkey')
    .option('--host <addr>', 'address the services listen on', '127.0.0.1')
    .option('--mqtt-port <port>', 'MQTT over TLS port', parseIntOption, 8883)
    .option('--https-port <port>', 'provisioner HTTPS port (EST and REST)', parseIntOption, 8443)
    .option('--metrics-port <port>', 'broker Prometheus port (-1 disables)', parseIntOption, 9883)
    .option('--kdc-metrics-port <port>', 'KDC Prometheus port (-1 disables; default --metrics-port + 1, or 0/-1 like it)', parseIntOption)
    .option('--switch-after <s>', 'seconds from a rotation to the devices switching keys', parseIntOption, 10)
    .option('--rotate-every <s>', 'rotate the fleet keys every S seconds (0: only on request)', parseIntOption, 0)
    .option('--log-level <level>', 'pino log level (env FLEETKEY_LOG_LEVEL)', process.env.FLEETKEY_LOG_LEVEL ?? 'info')
    .option('--json', 'print the endpoints as one JSON line');
  addBrokerLimitOptions(cmd)
    .action(action(async (opts: UpCliOptions) => {
      const dir = resolve(opts.dir);
      const created = !existsSync(join(dir, dataDirFiles.manifest));
      if (created) initDataDir({ dir, name: opts.name });
      const logger = createLogger('fleetkey', opts.logLevel);
      const stack = await startEmbeddedStack({
        dir, logger, host: opts.host, httpsPort: opts.httpsPort, mqttPort: opts.mqttPort,
        brokerMetricsPort: opts.metricsPort,
        kdcMetricsPort: opts.kdcMetricsPort ?? (opts.metricsPort <= 0 ? opts.metricsPort : opts.metricsPort + 1),
        brokerLimits: brokerLimits(opts), kdcName: 'up', switchAfterSeconds: opts.switchAfter, rotateEverySeconds: opts.rotateEvery,
      });
      const { provisioner, broker, kdc } = stack;
      const reloadTls = async () => {
        await provisioner.reloadTls();
        await broker.reloadTls();
      };
      const endpoints = {
        dataDir: dir,
        created,
        provisioner: provisioner.url,
        adminToken: provisioner.adminToken?.path ?? null,
        mqtts: stack.brokerUrl,
        metrics: broker.metricsPort === undefined ? null : `http://${opts.host}:${broker.metricsPort}/metrics`,
        caBundle: join(dir, dataDirFiles.chain),
        kdc: { clientId: kdc.kdc.clientId, metrics: kdc.metricsPort === undefined ? null : `http://${opts.host}:${kdc.metricsPort}/metrics` },
      };
      process.on('SIGHUP', () => void reloadTls().catch((err: unknown) => logger.error({ err }, 'TLS reload failed')));
      onShutdown(() => stack.close(), logger);

      if (opts.json) {
        process.stdout.write(`${JSON.stringify(endpoints)}\n`);
        return;
      }
      const data = opts.dir === './data' ? '' : ` --dir ${opts.dir}`;
      process.stderr.write([
        `fleetkey is up${created ? ` (new fleet CA in ${dir})` : ''}`,
        `  provisioner (EST, REST)  ${endpoints.provisioner}`,
        `  MQTT over mutual TLS     ${endpoints.mqtts}`,
        `  broker metrics           ${endpoints.metrics ?? 'off'}`,
        `  KDC                      ${endpoints.kdc.clientId}, metrics ${endpoints.kdc.metrics ?? 'off'}`,
        `  CA bundle                ${endpoints.caBundle}`,
        `  admin token              ${endpoints.adminToken ?? 'none'} (mode 0600)`,
        '',
        'Next, in another terminal:',
        `  npx fleetkey devices add --count 3 --prefix dev-${data}   register devices, print one-time tokens`,
        `  npx fleetkey sim --devices 20 --register${data}           simulated devices: enroll, connect, send`,
        `  npx fleetkey tail${data}                                  decrypt the fleet's telemetry`,
        `  npx fleetkey rotate --wait${data}                         rotate the fleet keys`,
        '',
        'Ctrl-C stops it; a restart continues with the same CA and state.',
        '',
      ].join('\n'));
    }));
}
