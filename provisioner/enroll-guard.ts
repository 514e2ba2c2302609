import type { Logger } from 'pino';
import { isFleetkeyError } from '../errors/index.js';
import type { Store } from '../store/types.js';
import { auditRefusal } from './audit.js';
import { Refusal } from './http-errors.js';
import type { EnrollMethod, ProvisionerMetrics } from './metrics.js';
import type { RateLimit } from './options.js';
import { RateLimiter } from './rate-limit.js';

/** One enrollment attempt as the guard sees it. */
export interface Attempt {
  readonly method: EnrollMethod;
  /** Client address (rate limit key). */
  readonly ip: string;
  /** The device the attempt claims to be for, once known (Basic user name, certificate identity). */
  deviceId?: string;
  /** Audit actor: `device:<id>` once a certificate proved it, `client:<ip>` before. */
  actor: string;
}

/**
 * Around every enrollment: per-IP and per-device rate limits (429 + Retry-After), the outcome metrics
 * and latency, and an audit entry for each refusal that concerns a device. A refusal changes nothing
 * else: the flows write to the store only in their last, atomic step.
 */
export class EnrollGuard {
  private readonly byIp: RateLimiter;
  private readonly byDevice: RateLimiter;

  constructor(
    limits: { readonly ip: RateLimit; readonly device: RateLimit },
    private readonly store: Store,
    private readonly metrics: ProvisionerMetrics,
    private readonly log: Logger,
  ) {
    this.byIp = new RateLimiter(limits.ip);
    this.byDevice = new RateLimiter(limits.device);
  }

  /** Refuses the client address once it is over its limit. Not audited: no device is concerned yet. */
  limitIp(attempt: Attempt): void {
    const decision = this.byIp.take(attempt.ip);
    if (decision.allowed) return;
    this.metrics.rateLimited.inc({ limit: 'ip' });
    throw new Refusal('RATE_LIMITED', `${attempt.method} from ${attempt.ip}`, { 'retry-after': String(decision.retryAfterSeconds) });
  }

  /** Refuses a device id once it is over its limit (whoever asks for it). */
  limitDevice(attempt: Attempt, deviceId: string): void {
    const decision = this.byDevice.take(deviceId);
    if (decision.allowed) return;
    this.metrics.rateLimited.inc({ limit: 'device' });
    throw new Refusal('RATE_LIMITED', `${attempt.method} for ${deviceId}`, { 'retry-after': String(decision.retryAfterSeconds) });
  }

  /**
   * A first enrollment answered again for a retry of its consumed token: the same certificate
   * (simpleenroll), or a new one pending as `supersedes`'s successor (serverkeygen, bundle).
   */
  noteRetry(attempt: Attempt, serial: string, supersedes: string | undefined): void {
    const answer = supersedes === undefined ? 'same-certificate' : 'successor';
    this.metrics.enrollRetries.inc({ method: attempt.method, answer });
    this.log.info({ event: 'enroll-retried', method: attempt.method, deviceId: attempt.deviceId, serial, supersedes, answer }, 'enrollment retried with its consumed token');
  }

  /** Runs one attempt: counts its outcome, times it, audits a refusal. */
  async run<T>(attempt: Attempt, flow: () => Promise<T>): Promise<T> {
    const stopTimer = this.metrics.enrollSeconds.startTimer({ method: attempt.method });
    try {
      const result = await flow();
      this.metrics.enrollments.inc({ method: attempt.method, outcome: 'issued' });
      return result;
    } catch (err) {
      const code = isFleetkeyError(err) ? err.code : 'INTERNAL';
      this.metrics.enrollments.inc({ method: attempt.method, outcome: code });
      if (attempt.deviceId !== undefined && isFleetkeyError(err) && err.status < 500) {
        await auditRefusal(this.store, this.log, {
          actor: attempt.actor,
          action: 'enroll.refused',
          subject: attempt.deviceId,
          code,
          detail: { method: attempt.method, ...(err.detail === undefined ? {} : { reason: err.detail.slice(0, 200) }) },
        });
      }
      throw err;
    } finally {
      stopTimer();
    }
  }
}
