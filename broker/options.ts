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
  /** Shared message bus and persistence for a cluster (mqemitter-redis, aedes-persistence-redis). */
  readonly cluster: { readonly mq: unknown; readonly persistence: unknown; logTo?(logger: Logger): void } | undefined;
}

export type BrokerOptionsInput = Pick<BrokerOptions, 'tls' | 'store' | 'logger'> & Partial<BrokerOptions>;

export const brokerDefaults = Object.freeze({
  host: '127.0.0.1',
  port: 8883,
  maxPacketBytes: 64 * 1024,
  keepalive: Object.freeze({ min: 5, max: 3600 }),
  maxInflightMessages: 100,
  queueLimit: 42,
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
  return Object.freeze(opts);
}
