import { isValidDeviceId } from '../certs/identity.js';
import { FleetkeyError } from '../errors/index.js';
import { defaultBackoff, type BackoffPolicy } from './backoff.js';
import type { SimEvent } from './env.js';
import type { EstServer } from './est-client.js';
import type { DeviceIdentity, FleetTrust } from './identity.js';

/** A device to simulate: one with a bundle (identity), or one that enrolls with its one-time token. */
export type DeviceSource = { readonly id: string; readonly identity: DeviceIdentity } | { readonly id: string; readonly token: string };

export interface FleetOptions {
  /** `mqtts://host:port` of the broker. */
  readonly brokerUrl: string;
  readonly trust: FleetTrust;
  /** The provisioner's EST endpoint: needed to enroll with tokens and to renew certificates. */
  readonly est: EstServer | undefined;
  readonly devices: readonly DeviceSource[];
  /** Telemetry messages per second per device. Default 1. */
  readonly rate: number;
  /** Telemetry QoS. Default 1 (what makes loss measurable: every envelope is acknowledged or resent). */
  readonly qos: 0 | 1;
  /** MQTT keepalive, seconds. Default 60. */
  readonly keepaliveSeconds: number;
  /** CONNECT to CONNACK, ms. Default 30 000. */
  readonly connectTimeoutMs: number;
  /** TLS handshakes in flight at once. Default 64. */
  readonly connectConcurrency: number;
  /** Enrollment requests in flight at once. Default 8. */
  readonly enrollConcurrency: number;
  /** A rekey request unanswered this long (ms) is sent again. Default 10 000. */
  readonly grantTimeoutMs: number;
  /** Unacknowledged envelopes kept per device. Default 256. */
  readonly outboxMax: number;
  /** Renew certificates at two thirds of their lifetime. Default true. */
  readonly renew: boolean;
  /**
   * Hold back telemetry until `openTelemetry()` (benchmarks: connect everyone, then send). Default
   * false: like real devices, each sends as soon as it holds a key.
   */
  readonly holdTelemetry: boolean;
  /** Reconnect and retry delays (full jitter). Default base 500 ms, cap 15 s. */
  readonly backoff: BackoffPolicy;
  /** Resolution of the fleet's timing wheel, ms. Default 10. */
  readonly tickMs: number;
  readonly observe: ((event: SimEvent) => void) | undefined;
}

export type FleetOptionsInput = Pick<FleetOptions, 'brokerUrl' | 'trust' | 'devices'> & Partial<FleetOptions>;

export const fleetDefaults = Object.freeze({
  est: undefined,
  rate: 1,
  qos: 1 as 0 | 1,
  keepaliveSeconds: 60,
  connectTimeoutMs: 30_000,
  connectConcurrency: 64,
  enrollConcurrency: 8,
  grantTimeoutMs: 10_000,
  outboxMax: 256,
  renew: true,
  holdTelemetry: false,
  backoff: defaultBackoff,
  tickMs: 10,
  observe: undefined,
});

function invalid(detail: string): never {
  throw new FleetkeyError('CONFIG_INVALID', `sim option ${detail}`);
}

function atLeast(name: string, value: number, min: number, integer = true): void {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || (integer && !Number.isInteger(value))) {
    invalid(`${name} must be ${integer ? 'an integer' : 'a number'} >= ${min}, got ${String(value)}`);
  }
}

/** Defaults filled in, every value checked, frozen. */
export function resolveFleetOptions(input: FleetOptionsInput): Readonly<FleetOptions> {
  const opts: FleetOptions = { ...fleetDefaults, ...input, backoff: { ...defaultBackoff, ...input.backoff } };
  if (!/^mqtts:\/\/[^/]+$/.test(opts.brokerUrl.replace(/\/$/, ''))) invalid(`brokerUrl must be mqtts://host:port, got ${opts.brokerUrl}`);
  if (opts.devices.length === 0) invalid('devices: none given');
  const seen = new Set<string>();
  for (const d of opts.devices) {
    if (!isValidDeviceId(d.id) || seen.has(d.id)) invalid(`devices: ${JSON.stringify(d.id)} is not a device id or appears twice`);
    seen.add(d.id);
    if ('token' in d && !opts.est) invalid(`devices: ${d.id} must enroll, and no EST server is given`);
  }
  atLeast('rate', opts.rate, 0.001, false);
  if (opts.qos !== 0 && opts.qos !== 1) invalid('qos must be 0 or 1');
  atLeast('keepaliveSeconds', opts.keepaliveSeconds, 5);
  atLeast('connectTimeoutMs', opts.connectTimeoutMs, 100);
  atLeast('connectConcurrency', opts.connectConcurrency, 1);
  atLeast('enrollConcurrency', opts.enrollConcurrency, 1);
  atLeast('grantTimeoutMs', opts.grantTimeoutMs, 100);
  atLeast('outboxMax', opts.outboxMax, 1);
  atLeast('backoff.baseMs', opts.backoff.baseMs, 1);
  atLeast('backoff.capMs', opts.backoff.capMs, opts.backoff.baseMs);
  atLeast('tickMs', opts.tickMs, 1);
  return Object.freeze({ ...opts, devices: Object.freeze([...opts.devices]), backoff: Object.freeze(opts.backoff) });
}
