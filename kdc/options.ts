import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import { FleetkeyError } from '../errors/index.js';
import type { Store } from '../store/types.js';

/** The KDC's MQTT connection: broker URL and its client identity (PEM; `cert` = KDC certificate + issuing CA). */
export interface KdcBroker {
  readonly url: string;
  readonly ca: readonly string[];
  readonly cert: string;
  readonly key: string;
}

export interface KdcOptions {
  readonly broker: KdcBroker;
  /** Instance name: the MQTT client id is `kdc-<name>`. Replicas need distinct names. Default `1`. */
  readonly name: string;
  /** The key-encryption key, 32 bytes. No default. */
  readonly kek: Buffer;
  readonly store: Store;
  readonly logger: Logger;
  /** Milliseconds since the Unix epoch. Default Date.now. */
  readonly clock: () => number;
  /** Seconds between a rotation and the new keys' nbf (devices switch then). Default 10. */
  readonly switchAfterSeconds: number;
  /** Seconds between scheduled rotations, counted from the current epoch's creation; 0 = no schedule. Default 0. */
  readonly rotateEverySeconds: number;
  /** Seconds the previous epoch stays openable after the next one's nbf (what consumers are granted). Default 300. */
  readonly graceSeconds: number;
  /** Seconds a grant may be accepted after its nbf (its exp). Default 600. */
  readonly grantTtlSeconds: number;
  /** Epoch secrets kept before the current one; older ones are destroyed. Default 2. */
  readonly retainEpochs: number;
  /** Worker threads that build grants; 0 builds on the main thread. Default: the machine's cores (max 4). */
  readonly workers: number;
  /** Devices per step of a rotation (certificate lookups, grant numbers, build, publish). Default 2000. */
  readonly rotationBatch: number;
  /** Acks are written to the store in batches at most this far apart, in ms. Default 50. */
  readonly ackFlushMs: number;
  /** Requests are gathered this long (ms) into one batch of grant numbers. Default 5. */
  readonly requestBatchMs: number;
  /** A client's rekey requests closer together than this (ms) are dropped. Default 1000. */
  readonly requestIntervalMs: number;
  /**
   * Milliseconds a rotation's lease lasts without renewal (renewed every third of it): a distributing
   * epoch whose lease ran out has lost its distributor and any replica takes it over. Default 10000.
   */
  readonly leaseMs: number;
  /** Milliseconds between checks for a distributing epoch without an owner, a store behind the mark, a missed request. Default 3000. */
  readonly checkEveryMs: number;
  /**
   * The epoch high-water mark file (kdc/high-water.ts), fsynced before an epoch is used; `fleetkey kdc`
   * keeps it at `<dir>/kdc/<name>.epoch`. Undefined: in memory only (a restarted KDC then trusts the store).
   */
  readonly highWaterFile: string | undefined;
  /** Consumer certificates (PEM) the KDC encrypts epoch grants to, matched to a client id by CN. */
  readonly consumerCertificates: readonly string[];
  /** Where the KDC's metrics are registered. Default: a registry of its own. */
  readonly registry: Registry | undefined;
}

export type KdcOptionsInput = Pick<KdcOptions, 'broker' | 'kek' | 'store' | 'logger'> & Partial<KdcOptions>;

export const kdcDefaults = Object.freeze({
  name: '1',
  clock: Date.now,
  switchAfterSeconds: 10,
  rotateEverySeconds: 0,
  graceSeconds: 300,
  grantTtlSeconds: 600,
  retainEpochs: 2,
  workers: Math.min(4, availableParallelism()),
  rotationBatch: 2000,
  ackFlushMs: 50,
  requestBatchMs: 5,
  requestIntervalMs: 1000,
  leaseMs: 10_000,
  checkEveryMs: 3000,
  highWaterFile: undefined,
  consumerCertificates: Object.freeze([]) as readonly string[],
  registry: undefined,
});

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$/;

function intAtLeast(name: string, value: unknown, min: number): void {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new FleetkeyError('CONFIG_INVALID', `kdc option ${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

/** Defaults applied, every value checked, frozen. The KEK has no default. */
export function resolveKdcOptions(input: KdcOptionsInput): Readonly<KdcOptions> {
  const opts: KdcOptions = { ...kdcDefaults, ...input };
  if (!Buffer.isBuffer(opts.kek) || opts.kek.length !== 32) throw new FleetkeyError('KEK_INVALID', 'the KDC needs a 32-byte KEK');
  if (typeof opts.name !== 'string' || !NAME.test(opts.name)) throw new FleetkeyError('CONFIG_INVALID', `kdc name ${JSON.stringify(opts.name)}`);
  if (!/^mqtts?:\/\//.test(opts.broker?.url ?? '')) throw new FleetkeyError('CONFIG_INVALID', 'kdc broker URL must be mqtts://host:port');
  intAtLeast('switchAfterSeconds', opts.switchAfterSeconds, 0);
  intAtLeast('rotateEverySeconds', opts.rotateEverySeconds, 0);
  if (opts.rotateEverySeconds > 0 && opts.rotateEverySeconds <= opts.switchAfterSeconds) {
    throw new FleetkeyError('CONFIG_INVALID', 'kdc rotateEverySeconds must exceed switchAfterSeconds');
  }
  intAtLeast('graceSeconds', opts.graceSeconds, 0);
  intAtLeast('grantTtlSeconds', opts.grantTtlSeconds, 1);
  intAtLeast('retainEpochs', opts.retainEpochs, 1);
  intAtLeast('workers', opts.workers, 0);
  intAtLeast('rotationBatch', opts.rotationBatch, 1);
  intAtLeast('ackFlushMs', opts.ackFlushMs, 1);
  intAtLeast('requestBatchMs', opts.requestBatchMs, 0);
  intAtLeast('requestIntervalMs', opts.requestIntervalMs, 0);
  intAtLeast('leaseMs', opts.leaseMs, 300);
  intAtLeast('checkEveryMs', opts.checkEveryMs, 50);
  if (opts.highWaterFile !== undefined && typeof opts.highWaterFile !== 'string') throw new FleetkeyError('CONFIG_INVALID', 'kdc highWaterFile must be a path');
  if (typeof opts.clock !== 'function') throw new FleetkeyError('CONFIG_INVALID', 'kdc clock must be a function');
  return Object.freeze({ ...opts, consumerCertificates: Object.freeze([...opts.consumerCertificates]) });
}
