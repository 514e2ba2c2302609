import { isFleetkeyError, type ErrorCode } from '../errors/index.js';
import { parseRekeyRequest } from '../protocol/rekey-messages.js';
import { audit, nowMs, type KdcContext } from './context.js';
import { buildAndPublish, prepareGrants, type DeviceTarget } from './issue-grants.js';

/** Why a rekey request got no grant: the metric label and the catalogued code. */
export const refusalReasons = {
  unknown: 'KDC_DEVICE_UNKNOWN',
  revoked: 'KDC_DEVICE_REVOKED',
  'no-certificate': 'KDC_NO_CERTIFICATE',
  'consumer-unknown': 'KDC_CONSUMER_UNKNOWN',
  'rate-limited': 'KDC_REQUEST_RATE_LIMITED',
  malformed: 'REKEY_MESSAGE_INVALID',
} as const satisfies Record<string, ErrorCode>;
export type RefusalReason = keyof typeof refusalReasons;

/**
 * Records a refused request: metric, log, and (except for floods and garbage, which only count) an
 * audit entry `kdc.grant.refused`. The requester learns nothing: it simply gets no grant.
 */
export function refuse(ctx: KdcContext, kind: 'request' | 'epoch', subject: string, reason: RefusalReason): void {
  ctx.metrics.refusals.inc({ reason });
  ctx.metrics.grants.inc({ kind, outcome: 'refused' });
  const code = refusalReasons[reason];
  if (reason === 'rate-limited' || reason === 'malformed') {
    ctx.log.debug({ event: 'rekey-refused', subject, reason, code }, 'rekey request dropped');
    return;
  }
  ctx.log.warn({ event: 'rekey-refused', subject, reason, code }, 'rekey request refused');
  audit(ctx, { action: 'kdc.grant.refused', subject, detail: { reason, code, kind } });
}

/** Drops a client's requests that come closer together than `intervalMs`. */
export class RequestLimiter {
  readonly #last = new Map<string, number>();
  constructor(private readonly intervalMs: number) {}

  allow(id: string, now: number): boolean {
    const last = this.#last.get(id);
    if (last !== undefined && now - last < this.intervalMs) return false;
    if (this.#last.size >= 100_000) for (const [k, t] of this.#last) if (now - t >= this.intervalMs) this.#last.delete(k);
    this.#last.set(id, now);
    return true;
  }
}

/**
 * How long a claimed request stays claimed. A device that gets no answer asks again with a fresh
 * nonce, so this only has to outlast the other replicas' copies of a request and its redeliveries.
 */
const REQUEST_CLAIM_MS = 60_000;

/** How soon requests held for want of a current epoch are tried again. */
const NO_EPOCH_RETRY_MS = 500;

/**
 * Device rekey requests (DESIGN.md "Session keys", step 2), gathered for `requestBatchMs` so that a
 * reconnect storm costs one store call per batch, not one per device; batches run one at a time.
 */
export class DeviceRequests {
  readonly #pending = new Map<string, string>();
  readonly #limiter: RequestLimiter;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;
  #running: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: KdcContext) {
    this.#limiter = new RequestLimiter(ctx.opts.requestIntervalMs);
  }

  /** A request body from devices/<deviceId>/rekey/request. */
  receive(deviceId: string, body: Buffer): void {
    if (this.#closed) return;
    let nonce: string;
    try {
      nonce = parseRekeyRequest(body).nonce;
    } catch (err) {
      if (!isFleetkeyError(err)) throw err;
      return refuse(this.ctx, 'request', deviceId, 'malformed');
    }
    this.ctx.presence.seen(deviceId);
    if (!this.#limiter.allow(deviceId, nowMs(this.ctx))) return refuse(this.ctx, 'request', deviceId, 'rate-limited');
    this.#pending.set(deviceId, nonce);
    this.#timer ??= setTimeout(() => this.#flush(), this.ctx.opts.requestBatchMs);
  }

  /** Resolves when every request received so far has been answered or refused. */
  async drain(): Promise<void> {
    if (this.#timer) {
      clearTimeout(this.#timer);
      this.#flush();
    }
    await this.#running;
  }

  /** Stops serving: requests still waiting for an epoch are dropped (their devices ask again). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#pending.clear();
  }

  /**
   * No current epoch yet (the store not read, or behind the high-water mark until the KDC moves past
   * it): the requests wait for one rather than vanish. A newer request of a device replaces its own.
   */
  #holdUntilEpoch(batch: ReadonlyArray<readonly [string, string]>): void {
    if (this.#closed) return;
    for (const [id, nonce] of batch) if (!this.#pending.has(id)) this.#pending.set(id, nonce);
    this.ctx.log.debug({ event: 'rekey-waiting-for-epoch', devices: batch.length }, 'rekey requests wait for a current epoch');
    this.#timer ??= setTimeout(() => this.#flush(), Math.max(this.ctx.opts.requestBatchMs, NO_EPOCH_RETRY_MS));
  }

  #flush(): void {
    this.#timer = undefined;
    const batch = [...this.#pending];
    this.#pending.clear();
    this.#running = this.#running.then(() => this.#serve(batch)).catch((err: unknown) => {
      this.ctx.log.error({ event: 'rekey-batch-failed', err, devices: batch.length }, 'rekey requests not served');
      if (isFleetkeyError(err) && err.code === 'EPOCH_NOT_FOUND') this.ctx.epochMissing();
    });
  }

  /**
   * issueGrant for a batch: claim each request (with several replicas, or a redelivered request, one
   * answer per request), check each device, take grant numbers, build, publish.
   */
  async #serve(batch: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const { ctx } = this;
    const epoch = ctx.epochs.current;
    if (!epoch) return this.#holdUntilEpoch(batch);
    const won = await ctx.store.claimRekeyRequests(batch.map(([id, nonce]) => ({ id, nonce })), REQUEST_CLAIM_MS);
    const mine = batch.filter(([deviceId]) => won.has(deviceId));
    if (mine.length < batch.length) {
      ctx.metrics.grants.inc({ kind: 'request', outcome: 'answered-elsewhere' }, batch.length - mine.length);
      ctx.log.debug({ event: 'rekey-requests-answered-elsewhere', count: batch.length - mine.length }, 'requests claimed by another KDC replica or already answered');
    }
    const checked = await Promise.all(mine.map(([deviceId, nonce]) => this.#check(deviceId, nonce)));
    const targets = checked.filter((t): t is DeviceTarget => t !== undefined);
    await buildAndPublish(ctx, await prepareGrants(ctx, epoch, targets, 'request'));
  }

  /** Registered, not revoked, with a current unrevoked certificate; otherwise refused. */
  async #check(deviceId: string, nonce: string): Promise<DeviceTarget | undefined> {
    const { ctx } = this;
    const device = await ctx.store.getDevice(deviceId);
    if (!device) return void refuse(ctx, 'request', deviceId, 'unknown');
    if (device.status === 'revoked' || ctx.revocations.isSubjectRevoked(deviceId)) {
      ctx.presence.forget(deviceId);
      return void refuse(ctx, 'request', deviceId, 'revoked');
    }
    const recipient = await ctx.directory.device(deviceId);
    if (!recipient) return void refuse(ctx, 'request', deviceId, 'no-certificate');
    return { deviceId, recipient, req: nonce };
  }
}
