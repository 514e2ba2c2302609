import type { Command } from 'commander';
import { brokerDefaults, type BrokerLimits } from '../../broker/options.js';
import { createLogger } from '../logger.js';
import { action } from '../program.js';
import { runBroker } from '../run-broker.js';
import { addServiceOptions, announceStarted, openServiceStore, parseIntOption, storeUrl, superviseService, type ServiceCliOptions } from '../service-options.js';

/** The flags of the broker's memory and connect-load limits, shared by `broker` and `up`. */
export interface BrokerLimitCliOptions {
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  drainTimeout: number;
  maxSessionQueue: number;
  maxBufferedBytes: number;
  maxConnectRate: number;
  maxHandshakes: number;
  maxWaitingConnects: number;
  connectWait: number;
}

export function addBrokerLimitOptions(cmd: Command): Command {
  const d = brokerDefaults;
  return cmd
    .option('--max-queued-messages <n>', 'packets a client may have queued unsent before it is dropped', parseIntOption, d.maxQueuedMessages)
    .option('--max-queued-bytes <bytes>', 'bytes a client may have queued unsent before it is dropped', parseIntOption, d.maxQueuedBytes)
    .option('--drain-timeout <s>', 'seconds a client\'s full socket may go without draining before it is dropped', parseIntOption, d.drainTimeoutSeconds)
    .option('--max-session-queue <n>', 'QoS 1 messages a persistent session may have queued (embedded store); newer ones are dropped', parseIntOption, d.maxSessionQueue)
    .option('--max-buffered-bytes <bytes>', 'unsent bytes over all clients above which CONNECTs get CONNACK 3', parseIntOption, d.maxBufferedBytes)
    .option('--max-connect-rate <n>', 'new TLS handshakes started per second, at most', parseIntOption, d.maxConnectRate)
    .option('--max-handshakes <n>', 'TLS handshakes in progress at once, at most', parseIntOption, d.maxHandshakes)
    .option('--max-waiting-connects <n>', 'connections waiting for admission; one more is closed at once', parseIntOption, d.maxWaitingConnects)
    .option('--connect-wait <s>', 'seconds a connection may wait for admission before it is closed', parseIntOption, d.connectWaitSeconds);
}

export function brokerLimits(opts: BrokerLimitCliOptions): BrokerLimits {
  return {
    maxQueuedMessages: opts.maxQueuedMessages,
    maxQueuedBytes: opts.maxQueuedBytes,
    drainTimeoutSeconds: opts.drainTimeout,
    maxSessionQueue: opts.maxSessionQueue,
    maxBufferedBytes: opts.maxBufferedBytes,
    maxConnectRate: opts.maxConnectRate,
    maxHandshakes: opts.maxHandshakes,
    maxWaitingConnects: opts.maxWaitingConnects,
    connectWaitSeconds: opts.connectWait,
  };
}

interface BrokerCliOptions extends ServiceCliOptions, BrokerLimitCliOptions {
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
  addServiceOptions(addBrokerLimitOptions(cmd))
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
        limits: brokerLimits(opts),
      }));
      const started = { service: 'broker', mqtts: `mqtts://${opts.host}:${service.port}`, metrics: service.metricsPort === undefined ? null : `http://${opts.metricsHost}:${service.metricsPort}/metrics` };
      announceStarted(opts, logger, started, `broker listening on ${started.mqtts}`);
    }));
}
