import type { Logger } from 'pino';
import { ISSUING_CRL_HOURS } from '../certs/crl.js';
import { defaultIssuingWorkers } from '../certs/issuing-workers.js';
import { DEFAULT_LIFETIME_DAYS } from '../certs/issue.js';
import type { FleetCa } from '../certs/types.js';
import { FleetkeyError } from '../errors/index.js';
import type { Store } from '../store/types.js';

/** PEM material for the HTTPS listener; `ca` is what client certificates (re-enrollment) must chain to. */
export interface ProvisionerTls {
  readonly ca: readonly string[];
  readonly cert: string;
  readonly key: string;
}

/** A token bucket: `burst` requests at once, refilled at `perSecond`. */
export interface RateLimit {
  readonly perSecond: number;
  readonly burst: number;
}

export interface ProvisionerOptions {
  /** Address to listen on. Default 127.0.0.1. */
  readonly host: string;
  /** HTTPS port; 0 picks a free one. Default 8443. */
  readonly port: number;
  /** Loads the server certificate and the CA bundle; called at start and on every reload. */
  readonly tls: () => ProvisionerTls | Promise<ProvisionerTls>;
  /** The fleet CA with the issuing key: it signs every certificate the provisioner hands out. */
  readonly ca: FleetCa;
  readonly store: Store;
  readonly logger: Logger;
  /** Largest request body, in bytes; larger ones get 413 before any parsing. Default 64 KiB. */
  readonly bodyLimitBytes: number;
  /** How long a registration's one-time enrollment token works, in seconds. Default 7 days. */
  readonly enrollmentTokenTtlSeconds: number;
  /** Lifetime of issued device certificates, in days. Default 90. */
  readonly deviceLifetimeDays: number;
  /** Enrollment attempts (simpleenroll, simplereenroll, serverkeygen) per client IP. Default 20/s, burst 100. */
  readonly ipRateLimit: RateLimit;
  /** Enrollment attempts per device id. Default 1 a minute, burst 5. */
  readonly deviceRateLimit: RateLimit;
  /** Hours from a CRL's thisUpdate to its nextUpdate; it is re-signed at half of that. Default 24. */
  readonly crlNextUpdateHours: number;
  /**
   * Worker threads that check certificate requests (key import, signature) and sign certificates:
   * most of an enrollment's CPU, off the event loop. 0 does it on the event loop.
   * Default: one per core beyond the first, 1 to 4.
   */
  readonly issuingWorkers: number;
}

export type ProvisionerOptionsInput = Pick<ProvisionerOptions, 'tls' | 'ca' | 'store' | 'logger'> & Partial<ProvisionerOptions>;

export const provisionerDefaults = Object.freeze({
  host: '127.0.0.1',
  port: 8443,
  bodyLimitBytes: 64 * 1024,
  enrollmentTokenTtlSeconds: 7 * 24 * 3600,
  deviceLifetimeDays: DEFAULT_LIFETIME_DAYS.device,
  ipRateLimit: Object.freeze({ perSecond: 20, burst: 100 }),
  deviceRateLimit: Object.freeze({ perSecond: 1 / 60, burst: 5 }),
  crlNextUpdateHours: ISSUING_CRL_HOURS,
});

function invalid(detail: string): never {
  throw new FleetkeyError('CONFIG_INVALID', `provisioner option ${detail}`);
}

function integer(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max) invalid(`${name} must be an integer in ${min}..${max}, got ${value}`);
}

function rateLimit(name: string, limit: RateLimit): RateLimit {
  if (!(limit.perSecond > 0 && Number.isFinite(limit.perSecond))) invalid(`${name}.perSecond must be a positive number`);
  integer(`${name}.burst`, limit.burst, 1, 1_000_000);
  return Object.freeze({ perSecond: limit.perSecond, burst: limit.burst });
}

/** Defaults filled in, every value checked, the result frozen. Secrets (the CA key) have no default. */
export function resolveProvisionerOptions(input: ProvisionerOptionsInput): Readonly<ProvisionerOptions> {
  const opts: ProvisionerOptions = { ...provisionerDefaults, issuingWorkers: defaultIssuingWorkers(), ...input };
  if (!opts.ca?.issuing?.privateKey) invalid('ca must be a loaded fleet CA with its issuing key');
  if (typeof opts.tls !== 'function') invalid('tls must be a function returning PEM material');
  integer('port', opts.port, 0, 65535);
  integer('bodyLimitBytes', opts.bodyLimitBytes, 1024, 16 * 1024 * 1024);
  integer('enrollmentTokenTtlSeconds', opts.enrollmentTokenTtlSeconds, 60, 366 * 24 * 3600);
  integer('deviceLifetimeDays', opts.deviceLifetimeDays, 1, 3650);
  integer('issuingWorkers', opts.issuingWorkers, 0, 64);
  if (!(opts.crlNextUpdateHours > 0 && opts.crlNextUpdateHours <= 24 * 365)) invalid('crlNextUpdateHours must be in (0, 8760]');
  return Object.freeze({
    ...opts,
    ipRateLimit: rateLimit('ipRateLimit', opts.ipRateLimit),
    deviceRateLimit: rateLimit('deviceRateLimit', opts.deviceRateLimit),
  });
}
