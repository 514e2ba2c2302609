import type { ErrorCode } from '../errors/index.js';
import type { BackoffPolicy, Slots } from './backoff.js';
import type { EstServer } from './est-client.js';
import type { FleetTrust } from './identity.js';
import type { LinkOptions } from './link.js';
import type { TimingWheel } from './scheduler.js';
import type { FleetCounters } from './stats.js';

/** What every device of one simulated fleet shares: one scheduler, one set of counters, the trust. */
export interface SimEnv {
  readonly wheel: TimingWheel;
  readonly trust: FleetTrust;
  readonly counters: FleetCounters;
  readonly link: LinkOptions;
  /** The provisioner's EST endpoint; without it devices cannot enroll or renew. */
  readonly est: EstServer | undefined;
  /** TLS handshakes in flight (the simulator's CPU, not a device rule). */
  readonly connectSlots: Slots;
  /** Enrollment requests in flight. */
  readonly enrollSlots: Slots;
  readonly backoff: BackoffPolicy;
  readonly device: DeviceSettings;
  /** Told about every step of every device (tests check the protocol with it); undefined costs nothing. */
  readonly observe: ((event: SimEvent) => void) | undefined;
}

export interface DeviceSettings {
  /** Telemetry messages per second per device. */
  readonly rate: number;
  readonly qos: 0 | 1;
  /** A rekey request unanswered this long (ms, plus up to half again of jitter) is sent again. */
  readonly grantTimeoutMs: number;
  /** Unacknowledged envelopes kept per device for republishing. */
  readonly outboxMax: number;
  /** Renew the certificate over EST at two thirds of its lifetime. */
  readonly renew: boolean;
  /** Closed: devices hold back telemetry (the fleet opens it once every device is ready). */
  readonly telemetryGate: { open: boolean };
}

/** One step of one device, for observers. */
export type SimEvent =
  | { readonly type: 'enrolled'; readonly deviceId: string; readonly serial: string }
  | { readonly type: 'connected'; readonly deviceId: string; readonly ms: number; readonly resumed: boolean; readonly serial: string }
  | { readonly type: 'disconnected'; readonly deviceId: string; readonly code: ErrorCode | undefined }
  | { readonly type: 'requested'; readonly deviceId: string; readonly nonce: string }
  | { readonly type: 'granted'; readonly deviceId: string; readonly epoch: number; readonly grant: number; readonly req: string | undefined }
  | { readonly type: 'sealed'; readonly deviceId: string; readonly epoch: number; readonly grant: number; readonly seq: bigint; readonly reading: number }
  | { readonly type: 'renewed'; readonly deviceId: string; readonly serial: string; readonly previous: string }
  | { readonly type: 'failed'; readonly deviceId: string; readonly code: ErrorCode };
