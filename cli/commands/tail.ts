import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import pino from 'pino';
import { createConsumer, type ConsumerStats, type TelemetryMessage } from '../../consumer/index.js';
import { readServiceIdentity } from '../data-dir.js';
import { action } from '../program.js';
import { parseIntOption } from '../service-options.js';

interface TailCliOptions {
  broker: string;
  dir: string;
  cert?: string;
  key?: string;
  clientId?: string;
  grace: number;
  count?: number;
  seconds?: number;
  statsEvery: number;
  logLevel: string;
  json?: boolean;
  state?: string;
}

/** One line per message: time, device, epoch/grant, seq, and the payload (text when printable, else hex). */
export function formatMessage(m: TelemetryMessage, at = new Date()): string {
  const text = m.payload.toString('utf8');
  const printable = !/[\u0000-\u0008\u000b-\u001f\u007f\ufffd]/.test(text);
  return `${at.toISOString()} ${m.deviceId} e${m.header.epoch}/g${m.header.grant} #${m.header.seq} ${printable ? text : `0x${m.payload.toString('hex')}`}`;
}

const statsLine = (s: ConsumerStats) => JSON.stringify({ time: new Date().toISOString(), ...s });

/**
 * `fleetkey tail`: a decrypting consumer in its own process. It needs only MQTT (no store), so it
 * runs beside `fleetkey up`, which holds the file: store.
 */
export function registerTail(program: Command): void {
  program
    .command('tail')
    .description('open sealed telemetry as a consumer: one line per message, or --json stats')
    .option('--broker <url>', 'broker to connect to (env FLEETKEY_BROKER)', process.env.FLEETKEY_BROKER ?? 'mqtts://127.0.0.1:8883')
    .option('--dir <dir>', 'data directory: ca/chain.pem and services/consumer.pem (env FLEETKEY_DIR)', process.env.FLEETKEY_DIR ?? './data')
    .option('--cert <file>', 'consumer certificate (+ issuing CA) instead of <dir>/services/consumer.pem')
    .option('--key <file>', 'its private key')
    .option('--client-id <id>', 'consumer-<name> (default: the certificate\'s CN)')
    .option('--grace <s>', 'seconds an epoch stays openable after the next one\'s switch', parseIntOption, 300)
    .option('--count <n>', 'exit after n messages', parseIntOption)
    .option('--seconds <s>', 'exit after s seconds', parseIntOption)
    .option('--stats-every <s>', 'with --json: print stats every s seconds (0: only at exit)', parseIntOption, 5)
    .option('--log-level <level>', 'pino log level, to stderr (env FLEETKEY_LOG_LEVEL)', process.env.FLEETKEY_LOG_LEVEL ?? 'warn')
    .option('--json', 'print stats as JSON lines instead of the messages')
    .option('--state <file>', 'persistent session: the broker queues QoS 1 telemetry while tail is away, and what was opened is kept in <file> (no keys in it) so that a restart opens nothing twice')
    .action(action(async (opts: TailCliOptions) => {
      const identity = readServiceIdentity(opts.dir, 'consumer');
      const cert = opts.cert ? readFileSync(opts.cert, 'utf8') : identity.cert;
      const key = opts.key ? readFileSync(opts.key, 'utf8') : identity.key;
      // Logs go to stderr: stdout carries the messages (or the stats).
      const logger = pino({ name: 'fleetkey-tail', level: opts.logLevel }, pino.destination(2));
      let seen = 0;
      let finish: () => void = () => undefined;
      const done = new Promise<void>((resolve) => (finish = resolve));
      const consumer = await createConsumer({
        broker: { url: opts.broker, ca: identity.ca, cert, key },
        logger,
        graceSeconds: opts.grace,
        ...(opts.state ? { stateFile: opts.state } : {}),
        ...(opts.clientId ? { clientId: opts.clientId } : {}),
      }, (m) => {
        if (!opts.json) process.stdout.write(`${formatMessage(m)}\n`);
        if (opts.count !== undefined && ++seen >= opts.count) finish();
      });
      const timers: NodeJS.Timeout[] = [];
      if (opts.json && opts.statsEvery > 0) timers.push(setInterval(() => process.stdout.write(`${statsLine(consumer.stats())}\n`), opts.statsEvery * 1000));
      if (opts.seconds !== undefined) timers.push(setTimeout(finish, opts.seconds * 1000));
      process.once('SIGINT', finish);
      process.once('SIGTERM', finish);
      process.stderr.write(`tail: ${consumer.clientId} on ${opts.broker}\n`);
      await done;
      timers.forEach(clearTimeout);
      await consumer.close();
      // Without --json the counts at exit go to stderr: stdout stays one line per message.
      if (opts.json) process.stdout.write(`${statsLine(consumer.stats())}\n`);
      else process.stderr.write(`tail: stats ${statsLine(consumer.stats())}\n`);
    }));
}
