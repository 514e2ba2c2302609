import type { Command } from 'commander';
import { createLogger } from '../logger.js';
import { action } from '../program.js';
import { runBroker } from '../run-broker.js';
import { addServiceOptions, announceStarted, openServiceStore, parseIntOption, storeUrl, superviseService, type ServiceCliOptions } from '../service-options.js';

interface BrokerCliOptions extends ServiceCliOptions {
  host: string;
  port: number;
  metricsHost: string;
  metricsPort: number;
  maxPacket: number;
  keepaliveMin: number;
  keepaliveMax: number;
  maxInflight: number;
}

export function registerBroker(program: Command): void {
  const cmd = program
    .command('broker')
    .description('run the MQTT broker alone: mutual TLS, identity from the certificate, ACL, live revocation')
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'MQTT over TLS port', parseIntOption, 8883)
    .option('--metrics-host <addr>', 'address of the Prometheus listener', '127.0.0.1')
    .option('--metrics-port <port>', 'Prometheus /metrics port (-1 disables)', parseIntOption, 9883)
    .option('--max-packet <bytes>', 'largest MQTT packet accepted', parseIntOption, 65536)
    .option('--keepalive-min <s>', 'smallest CONNECT keepalive accepted', parseIntOption, 5)
    .option('--keepalive-max <s>', 'largest CONNECT keepalive accepted', parseIntOption, 3600)
    .option('--max-inflight <n>', 'inbound QoS 2 messages a client may have awaiting PUBREL', parseIntOption, 100);
  addServiceOptions(cmd)
    .addHelpText('after', '\nSignals: SIGHUP reloads the CA bundle and server certificate; SIGTERM/SIGINT close every session and exit.')
    .action(action(async (opts: BrokerCliOptions) => {
      const logger = createLogger('fleetkey-broker', opts.logLevel);
      const url = storeUrl(opts);
      const store = await openServiceStore(opts, logger);
      const service = await superviseService(store, logger, () => runBroker({
        dir: opts.dir,
        store,
        storeUrl: url,
        storePrefix: opts.storePrefix,
        logger,
        host: opts.host,
        port: opts.port,
        metricsHost: opts.metricsHost,
        metricsPort: opts.metricsPort,
        maxPacketBytes: opts.maxPacket,
        keepalive: { min: opts.keepaliveMin, max: opts.keepaliveMax },
        maxInflightMessages: opts.maxInflight,
      }));
      const started = { service: 'broker', mqtts: `mqtts://${opts.host}:${service.port}`, metrics: service.metricsPort === undefined ? null : `http://${opts.metricsHost}:${service.metricsPort}/metrics` };
      announceStarted(opts, logger, started, `broker listening on ${started.mqtts}`);
    }));
}
