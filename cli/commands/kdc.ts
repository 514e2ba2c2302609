import type { Command } from 'commander';
import { kdcDefaults } from '../../kdc/index.js';
import { createLogger } from '../logger.js';
import { action } from '../program.js';
import { runKdc } from '../run-kdc.js';
import { addServiceOptions, announceStarted, openServiceStore, parseIntOption, superviseService, type ServiceCliOptions } from '../service-options.js';

interface KdcCliOptions extends ServiceCliOptions {
  broker: string;
  name: string;
  rotateEvery: number;
  switchAfter: number;
  grace: number;
  retain: number;
  workers?: number;
  rotationBatch?: number;
  consumerCert?: string[];
  metricsHost: string;
  metricsPort: number;
}

const HELP = `
The KDC connects to the broker with the data dir's services/kdc.pem (role kdc) and reads the KEK from
FLEETKEY_KEK (base64) or <dir>/kek. Rotations come from \`fleetkey rotate\` / POST /v1/rotations, from
--rotate-every, or from another replica: with several KDCs on one Redis store exactly one performs each.
Signals: SIGTERM/SIGINT finish recording acks and exit; a KDC killed mid-rotation completes it on its next start.`;

export function registerKdc(program: Command): void {
  const cmd = program
    .command('kdc')
    .description('run the key distribution center alone: session keys on the rekey topics, fleet key rotation')
    .option('--broker <url>', 'broker to connect to (env FLEETKEY_BROKER)', process.env.FLEETKEY_BROKER ?? 'mqtts://127.0.0.1:8883')
    .option('--name <name>', 'instance name: the MQTT client id is kdc-<name>; replicas need distinct names', '1')
    .option('--rotate-every <s>', 'rotate on a schedule, every S seconds (0: only on request)', parseIntOption, 0)
    .option('--switch-after <s>', 'seconds from a rotation to the devices switching keys', parseIntOption, kdcDefaults.switchAfterSeconds)
    .option('--grace <s>', 'seconds the previous epoch stays openable for consumers after the switch', parseIntOption, kdcDefaults.graceSeconds)
    .option('--retain <n>', 'epoch secrets kept before the current one', parseIntOption, kdcDefaults.retainEpochs)
    .option('--workers <n>', 'worker threads building grants (default: the machine\'s cores)', parseIntOption)
    .option('--rotation-batch <n>', 'devices per rotation step (certificate lookups, grant numbers, build, publish)', parseIntOption)
    .option('--consumer-cert <file...>', 'consumer certificates to encrypt epoch grants to (default <dir>/services/consumer.pem)')
    .option('--metrics-host <addr>', 'address of the Prometheus listener', '127.0.0.1')
    .option('--metrics-port <port>', 'Prometheus /metrics port (-1 disables)', parseIntOption, 9884);
  addServiceOptions(cmd)
    .addHelpText('after', HELP)
    .action(action(async (opts: KdcCliOptions) => {
      const logger = createLogger('fleetkey-kdc', opts.logLevel);
      const store = await openServiceStore(opts, logger);
      const service = await superviseService(store, logger, () => runKdc({
        dir: opts.dir, store, logger, brokerUrl: opts.broker, name: opts.name,
        switchAfterSeconds: opts.switchAfter, rotateEverySeconds: opts.rotateEvery, graceSeconds: opts.grace, retainEpochs: opts.retain,
        workers: opts.workers, rotationBatch: opts.rotationBatch, consumerCertFiles: opts.consumerCert, metricsHost: opts.metricsHost, metricsPort: opts.metricsPort,
      }));
      const started = {
        service: 'kdc', clientId: service.kdc.clientId, broker: opts.broker, epoch: service.kdc.currentEpoch()?.epoch ?? null,
        metrics: service.metricsPort === undefined ? null : `http://${opts.metricsHost}:${service.metricsPort}/metrics`,
      };
      announceStarted(opts, logger, started, `KDC ${started.clientId} serving on ${opts.broker}`);
    }));
}
