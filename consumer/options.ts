import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import { pemBlocks } from '../certs/pem.js';
import { FleetkeyError } from '../errors/index.js';
import { isConsumerId } from '../protocol/grant.js';

export interface ConsumerOptions {
  /** mqtts://host:port and the consumer's client identity (PEM; `cert` = consumer certificate + issuing CA). */
  readonly broker: { readonly url: string; readonly ca: readonly string[]; readonly cert: string; readonly key: string };
  /** `consumer-<name>`; default the certificate's CN (the convention the KDC matches keys by). */
  readonly clientId: string;
  /** The trust anchor grants are verified against; default the self-signed certificate in `broker.ca`. */
  readonly fleetRoot: X509Certificate;
  readonly logger: Logger;
  /** Milliseconds since the Unix epoch. Default Date.now. */
  readonly clock: () => number;
  /** Seconds an epoch stays openable after the next one's nbf; at least the KDC's. Default 300. */
  readonly graceSeconds: number;
  /** Seqs per replay window. Default 128. */
  readonly windowSize: number;
  /** How long start() waits for the first epoch grant with nothing delivered meanwhile (a backlog comes first), ms. Default 10000. */
  readonly grantTimeoutMs: number;
  /** Envelopes of an epoch not yet granted are held this long (ms) while a grant is asked for. Default 5000. */
  readonly holdMs: number;
  /** At most this many envelopes are held. Default 10000. */
  readonly maxHeld: number;
  /** Telemetry subscription QoS. Default 1. */
  readonly qos: 0 | 1;
  /**
   * A persistent session: the broker keeps the subscription and queues QoS 1 telemetry while the
   * consumer is away (clean: false, the client id above), and what was opened is kept in this file
   * (consumer/replay-state.ts) so that a redelivery after a restart counts as a duplicate. Default
   * undefined: a clean session, nothing kept.
   */
  readonly stateFile: string | undefined;
}

export type ConsumerOptionsInput = Pick<ConsumerOptions, 'broker' | 'logger'> & Partial<ConsumerOptions>;

function certificates(pems: readonly string[]): X509Certificate[] {
  return pems.flatMap((pem) => pemBlocks(pem, 'CERTIFICATE')).map((der) => new X509Certificate(der));
}

/** Defaults applied and checked, frozen. */
export function resolveConsumerOptions(input: ConsumerOptionsInput): Readonly<ConsumerOptions> {
  const leaf = certificates([input.broker.cert])[0];
  const clientId = input.clientId ?? /^CN=(.+)$/m.exec(leaf?.subject ?? '')?.[1];
  if (!isConsumerId(clientId)) throw new FleetkeyError('CONFIG_INVALID', `consumer client id ${JSON.stringify(clientId)} is not consumer-<name>`);
  const fleetRoot = input.fleetRoot ?? certificates(input.broker.ca).find((c) => c.checkIssued(c) && c.verify(c.publicKey));
  if (!fleetRoot) throw new FleetkeyError('CONFIG_INVALID', 'no fleet root (a self-signed CA certificate) among the CA certificates');
  const opts: ConsumerOptions = {
    clock: Date.now, graceSeconds: 300, windowSize: 128, grantTimeoutMs: 10_000, holdMs: 5000, maxHeld: 10_000, qos: 1, stateFile: undefined,
    ...input, clientId, fleetRoot,
  };
  for (const name of ['graceSeconds', 'windowSize', 'grantTimeoutMs', 'holdMs', 'maxHeld'] as const) {
    if (!Number.isSafeInteger(opts[name]) || opts[name] < 0) throw new FleetkeyError('CONFIG_INVALID', `consumer option ${name}: ${opts[name]}`);
  }
  if (opts.stateFile !== undefined && (typeof opts.stateFile !== 'string' || opts.stateFile === '')) throw new FleetkeyError('CONFIG_INVALID', 'consumer option stateFile must be a path');
  if (opts.stateFile !== undefined && opts.qos !== 1) throw new FleetkeyError('CONFIG_INVALID', 'a persistent consumer session needs QoS 1');
  return Object.freeze(opts);
}
