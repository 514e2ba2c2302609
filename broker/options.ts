import type { Logger } from 'pino';
import { FleetkeyError } from '../errors/index.js';
import type { Store } from '../store/types.js';

/** PEM material for the TLS listener. `ca` trusts the fleet's root and issuing CA, nothing else. */
export interface BrokerTls {
  readonly ca: readonly string[];
  readonly cert: string;
  readonly key: string;
}

export interface BrokerOptions {
  /** Address to listen on. Default 127.0.0.1. */
  readonly host: string;
  /** MQTT over TLS port; 0 picks a free one. Default 8883. */
  readonly port: number;
  /** Loads the TLS material; called at start and on every reload. */
  readonly tls: () => BrokerTls | Promise<BrokerTls>;
  readonly store: Store;
  readonly logger: Logger;
  /** Largest MQTT packet accepted, in bytes (fixed header excluded). Default 64 KiB. */
  readonly maxPacketBytes: number;
  /** Accepted CONNECT keepalive, in seconds. 0 (no keepalive) is refused. Default 5..3600. */
  readonly keepalive: { readonly min: number; readonly max: number };
  /** Inbound QoS 2 messages a client may have awaiting PUBREL. Default 100. */
  readonly maxInflightMessages: number;
  /** Messages queued for a client while its CONNECT is being authorized. Default 42. */
  readonly queueLimit: number;
  /** Packets a client may have queued past its socket's high-water mark before it is dropped. Default 10,000. */
  readonly maxQueuedMessages: number;
  /** Bytes a client's socket may hold unsent before the client is dropped. Default 16 MiB. */
  readonly maxQueuedBytes: number;
  /** Seconds a client's full socket may go without draining before the client is dropped. Default 30. */
  readonly drainTimeoutSeconds: number;
  /** QoS 1 messages a persistent session's queue may hold on the embedded broker; newer ones are not queued. Default 100,000. */
  readonly maxSessionQueue: number;
  /** Unsent bytes over all clients above which new CONNECTs get CONNACK 3. Default 256 MiB. */
  readonly maxBufferedBytes: number;
  /** New TLS handshakes started per second, at most (connect admission). Default 1,000. */
  readonly maxConnectRate: number;
  /** TLS handshakes in progress at once, at most. Default 64. */
  readonly maxHandshakes: number;
  /** TCP connections waiting for admission; beyond it a connection is closed at once. Default 10,000. */
  readonly maxWaitingConnects: number;
  /** Seconds a connection may wait for admission before it is closed. Default 30. */
  readonly connectWaitSeconds: number;
  /** Shared message bus and persistence for a cluster (mqemitter-redis, aedes-persistence-redis). */
  readonly cluster: { readonly mq: unknown; readonly persistence: unknown; logTo?(logger: Logger): void } | undefined;
}

/** The limits on memory and connect load (docs/operations.md, "Limits"). */
export type BrokerLimits = Pick<BrokerOptions, 'maxQueuedMessages' | 'maxQueuedBytes' | 'drainTimeoutSeconds' | 'maxSessionQueue' | 'maxBufferedBytes'
  | 'maxConnectRate' | 'maxHandshakes' | 'maxWaitingConnects' | 'connectWaitSeconds'>;

export type BrokerOptionsInput = Pick<BrokerOptions, 'tls' | 'store' | 'logger'> & Partial<BrokerOptions>;

export const brokerDefaults = Object.freeze({
  host: '127.0.0.1',
  port: 8883,
  maxPacketBytes: 64 * 1024,
  keepalive: Object.freeze({ min: 5, max: 3600 }),
  maxInflightMessages: 100,
  queueLimit: 42,
  maxQueuedMessages: 10_000,
  maxQueuedBytes: 16 * 1024 * 1024,
  drainTimeoutSeconds: 30,
  maxSessionQueue: 100_000,
  maxBufferedBytes: 256 * 1024 * 1024,
  maxConnectRate: 1000,
  maxHandshakes: 64,
  maxWaitingConnects: 10_000,
  connectWaitSeconds: 30,
  cluster: undefined,
});

function positiveInt(name: string, value: number, min = 1): void {
  if (!Number.isInteger(value) || value < min) throw new FleetkeyError('CONFIG_INVALID', `broker option ${name} must be an integer >= ${min}, got ${value}`);
}

export function resolveBrokerOptions(input: BrokerOptionsInput): Readonly<BrokerOptions> {
  const opts: BrokerOptions = { ...brokerDefaults, ...input, keepalive: { ...brokerDefaults.keepalive, ...input.keepalive } };
  positiveInt('port', opts.port, 0);
  if (opts.port > 65535) throw new FleetkeyError('CONFIG_INVALID', `broker port ${opts.port} is out of range`);
  positiveInt('maxPacketBytes', opts.maxPacketBytes, 16);
  positiveInt('keepalive.min', opts.keepalive.min);
  positiveInt('keepalive.max', opts.keepalive.max, opts.keepalive.min);
  positiveInt('maxInflightMessages', opts.maxInflightMessages);
  positiveInt('queueLimit', opts.queueLimit);
  for (const name of ['maxQueuedMessages', 'maxQueuedBytes', 'drainTimeoutSeconds', 'maxSessionQueue', 'maxBufferedBytes', 'maxConnectRate', 'maxHandshakes', 'maxWaitingConnects', 'connectWaitSeconds'] as const) {
    positiveInt(name, opts[name]);
  }
  return Object.freeze(opts);
}
