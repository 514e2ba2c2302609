import { randomBytes } from 'node:crypto';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import type { EpochRecord } from '../store/types.js';
import type { ConsumerGrants } from './consumers.js';
import { audit, grantedSet, nowMs, type KdcContext } from './context.js';
import { buildAndPublish, prepareGrants, type DeviceTarget, type PreparedGrants } from './issue-grants.js';
import { RotationLease } from './lease.js';
import { storeBehind } from './store-behind.js';

export interface RotationRequest {
  /** Seconds from now to the new keys' nbf; default the KDC's switchAfterSeconds. */
  readonly switchAfterSeconds?: number | undefined;
  /** Who asked: `api:<token>`, `schedule`, `cli`… (audit). */
  readonly requestedBy?: string;
  /**
   * The epoch current when the request was made: the rotation creates the one after it or nothing
   * (`lost`), so that a request answered by another replica is not answered twice. Default: whatever
   * is current when the rotation starts.
   */
  readonly expectedEpoch?: number | undefined;
}

export type RotationResult =
  /** This KDC created `epoch` and granted it to `granted` devices. */
  | { readonly outcome: 'rotated'; readonly epoch: number; readonly activatesAt: Date; readonly granted: number; readonly failed: number }
  /** Another KDC created the next epoch first (compare-and-set in the store). */
  | { readonly outcome: 'lost'; readonly epoch: number }
  /** A rotation is still being distributed (here or by another replica). */
  | { readonly outcome: 'in-progress'; readonly epoch: number };

/** The rotation stopped because another KDC replica holds its lease now. */
class HandedOver extends Error {}

const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Rotation (DESIGN.md "Session keys", step 4), a state machine kept in the store:
 *   rotateEpoch       create epoch e+1 in the store by compare-and-set (of racing replicas one wins),
 *                     leased to its creator in the same step, numbered past this KDC's high-water mark
 *   distributeEpoch   push e+1 to consumers, then grant every connected unrevoked device, nbf ahead;
 *                     mark the epoch distributed; destroy secrets past retention. The lease is renewed
 *                     while it works; a store outage is waited out (backoff) and the work resumed.
 *   resume            an epoch left `distributing` whose lease is free (its distributor died, or gave
 *                     up) is taken over at once by whichever replica looks first (start, a gap in the
 *                     store events, the periodic check, a rotation request)
 * Grant numbers are persisted before each grant is published, so a repeated distribution never reuses
 * one: a device that got the first grant refuses the second as not newer, and its ack still counts.
 */
export class Rotation {
  #active = false;
  #closed = false;
  /** The devices a distribution targets, fixed on its first attempt (presence.rotationTargets() ages entries). */
  #targetsOf: { epoch: number; ids: string[] } | undefined;

  constructor(private readonly ctx: KdcContext, private readonly consumers: ConsumerGrants, private readonly holder: string) {}

  get busy(): boolean {
    return this.#active;
  }

  /** One rotation at a time in this process; concurrent calls get `in-progress`. */
  rotate(request: RotationRequest = {}): Promise<RotationResult> {
    return this.#exclusive(() => this.#rotateEpoch(request)) ?? this.#inProgress();
  }

  /**
   * Takes over the store's current epoch if it is `distributing` and its lease is free, and
   * distributes it; undefined when there is nothing to take over (or this KDC is busy).
   */
  resume(): Promise<RotationResult | undefined> {
    return this.#exclusive(async () => {
      const { ctx } = this;
      const stored = await ctx.store.currentEpoch();
      if (stored?.state !== 'distributing' || ctx.epochs.behind(stored)) return undefined;
      const lease = await RotationLease.take(ctx, stored.epoch, this.holder);
      if (!lease) return undefined;
      ctx.log.info({ event: 'rotation-resumed', epoch: stored.epoch }, 'completing an interrupted rotation');
      return this.#takeOver(stored, lease);
    }) ?? Promise.resolve(undefined);
  }

  /** Stops retrying; a distribution in progress ends at its next store failure. */
  close(): void {
    this.#closed = true;
  }

  #exclusive<T extends RotationResult | undefined>(work: () => Promise<T>): Promise<T> | undefined {
    if (this.#active || this.#closed) return undefined;
    this.#active = true;
    return work().finally(() => {
      this.#active = false;
    });
  }

  #inProgress(): Promise<RotationResult> {
    this.ctx.metrics.rotations.inc({ outcome: 'in-progress' });
    return Promise.resolve({ outcome: 'in-progress', epoch: this.ctx.epochs.current?.epoch ?? 0 });
  }

  async #rotateEpoch(request: RotationRequest): Promise<RotationResult> {
    const { ctx } = this;
    const current = await ctx.store.currentEpoch();
    if (request.expectedEpoch !== undefined && (current?.epoch ?? 0) !== request.expectedEpoch) {
      ctx.metrics.rotations.inc({ outcome: 'lost' });
      ctx.log.info({ event: 'rotation-lost', epoch: current?.epoch }, 'the request was answered by another rotation');
      return { outcome: 'lost', epoch: current?.epoch ?? 0 };
    }
    const behind = ctx.epochs.behind(current);
    if (behind) {
      storeBehind(ctx, current);
    } else if (current?.state === 'distributing') {
      const lease = await RotationLease.take(ctx, current.epoch, this.holder);
      if (!lease) {
        ctx.metrics.rotations.inc({ outcome: 'in-progress' });
        return { outcome: 'in-progress', epoch: current.epoch };
      }
      ctx.log.warn({ event: 'rotation-takeover', epoch: current.epoch }, 'taking over a rotation that has no distributor');
      const finished = await this.#takeOver(current, lease);
      if (finished.outcome !== 'rotated') return finished;
    }
    const switchAfter = request.switchAfterSeconds ?? ctx.opts.switchAfterSeconds;
    const activatesAt = new Date(Math.ceil((nowMs(ctx) + switchAfter * 1000) / 1000) * 1000);
    const secret = randomBytes(32);
    const expected = current?.epoch ?? 0;
    const record = await ctx.store.createNextEpoch(expected, secret, ctx.opts.kek, activatesAt, {
      minimum: ctx.epochs.floor, lease: { holder: this.holder, ttlMs: ctx.opts.leaseMs },
    });
    if (!record) {
      secret.fill(0);
      ctx.metrics.rotations.inc({ outcome: 'lost' });
      ctx.log.info({ event: 'rotation-lost', epoch: expected + 1 }, 'another KDC created the next epoch');
      await ctx.epochs.refresh();
      return { outcome: 'lost', epoch: expected + 1 };
    }
    const lease = RotationLease.held(ctx, record.epoch, this.holder);
    try {
      await ctx.epochs.adopt(record, secret); // raises the high-water mark before any use
    } catch (err) {
      await lease.release();
      throw err;
    }
    const requestedBy = behind ? 'recovery' : request.requestedBy ?? 'kdc';
    audit(ctx, { action: 'epoch.rotate', subject: String(record.epoch), detail: { requestedBy, activatesAt: activatesAt.toISOString() } });
    ctx.log.info({ event: 'rotation-started', epoch: record.epoch, activatesAt, requestedBy }, 'rotating');
    const result = await this.#distributeLeased(record, lease);
    ctx.metrics.rotations.inc({ outcome: result.outcome });
    return result;
  }

  /** Another distributor's epoch: devices that acknowledged it have it, only the others are granted again. */
  async #takeOver(record: EpochRecord, lease: RotationLease): Promise<RotationResult> {
    const { ctx } = this;
    try {
      await ctx.epochs.adopt(record);
      const unacked = new Set(await ctx.store.listUnacked(record.epoch));
      const done = grantedSet(ctx, record.epoch);
      for (const id of await ctx.store.listGranted(record.epoch)) if (!unacked.has(id)) done.add(id);
    } catch (err) {
      await lease.release();
      throw err;
    }
    return this.#distributeLeased(record, lease);
  }

  /**
   * distributeEpoch under `lease`, through store outages: STORE_UNAVAILABLE is waited out with backoff
   * and the distribution resumed (devices already granted are skipped); any other error ends it.
   */
  async #distributeLeased(record: EpochRecord, lease: RotationLease): Promise<RotationResult> {
    const { ctx } = this;
    let delay = RETRY_FIRST_MS;
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          if (attempt > 0) await this.#stillOurs(record, lease);
          const { granted, failed } = await this.#distribute(record, lease);
          return { outcome: 'rotated', epoch: record.epoch, activatesAt: record.activatesAt, granted, failed };
        } catch (err) {
          if (err instanceof HandedOver) return { outcome: 'in-progress', epoch: record.epoch };
          if (!isFleetkeyError(err) || err.code !== 'STORE_UNAVAILABLE' || this.#closed) throw err;
          ctx.metrics.rotationRetries.inc();
          ctx.log.warn({ event: 'rotation-store-unavailable', epoch: record.epoch, retryInMs: delay, err }, 'the store is unavailable: the rotation waits for it');
          await sleep(delay);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
        }
      }
    } finally {
      await lease.release();
      if (this.#targetsOf?.epoch === record.epoch) this.#targetsOf = undefined;
    }
  }

  /** After an outage: the epoch is still the one this KDC distributes, and the lease still this KDC's. */
  async #stillOurs(record: EpochRecord, lease: RotationLease): Promise<void> {
    const stored = await this.ctx.store.getEpoch(record.epoch);
    if (!stored || stored.createdAt.getTime() !== record.createdAt.getTime()) throw new FleetkeyError('EPOCH_NOT_FOUND', `epoch ${record.epoch} is gone from the store`);
    if (stored.state === 'distributed') throw new HandedOver();
    if (!(await lease.renew())) throw new HandedOver();
  }

  /** distributeEpoch: consumers first, then devices in pipelined batches, then retention. */
  async #distribute(record: EpochRecord, lease: RotationLease): Promise<{ granted: number; failed: number }> {
    const { ctx } = this;
    const started = process.hrtime.bigint();
    ctx.metrics.epoch.set(record.epoch);
    await this.consumers.push(record);
    const targets = await this.#targets(record.epoch);
    let granted = 0;
    let failed = 0;
    const batches: string[][] = [];
    for (let i = 0; i < targets.length; i += ctx.opts.rotationBatch) batches.push(targets.slice(i, i + ctx.opts.rotationBatch));
    // Two-stage pipeline: the next batch's certificate lookups and grant numbers overlap this one's building.
    const prepare = (batch: string[]) => {
      const p = this.#prepare(record, batch);
      p.catch(() => undefined); // awaited below; a failure while another step is awaited is not unhandled
      return p;
    };
    let next = batches.length > 0 ? prepare(batches[0]!) : undefined;
    for (let i = 0; next; i++) {
      const prepared = await next;
      if (lease.lost) throw new HandedOver();
      next = i + 1 < batches.length ? prepare(batches[i + 1]!) : undefined;
      const batchStarted = process.hrtime.bigint();
      const result = await buildAndPublish(ctx, prepared);
      granted += result.issued;
      failed += result.failed;
      ctx.log.debug({ event: 'rotation-batch', epoch: record.epoch, batch: i, grants: result.issued, prepareMs: prepared.ms, buildPublishMs: Number(process.hrtime.bigint() - batchStarted) / 1e6 }, 'rotation batch');
    }
    if (lease.lost) throw new HandedOver();
    await ctx.store.markEpochDistributed(record.epoch);
    await ctx.epochs.refresh();
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    ctx.metrics.rotationSeconds.observe(seconds);
    ctx.log.info({ event: 'rotation-distributed', epoch: record.epoch, granted, failed, seconds }, 'epoch distributed');
    await this.#retain(record.epoch);
    return { granted, failed };
  }

  /** Connected devices, minus revoked ones and those already granted this epoch (by a request). */
  async #targets(epoch: number): Promise<string[]> {
    const { ctx } = this;
    const revoked = new Set<string>();
    let cursor: string | undefined;
    do {
      const page = await ctx.store.listDevices({ status: 'revoked', limit: 1000, ...(cursor === undefined ? {} : { cursor }) });
      for (const d of page.devices) revoked.add(d.id);
      cursor = page.nextCursor;
    } while (cursor !== undefined);
    const granted = grantedSet(ctx, epoch);
    if (this.#targetsOf?.epoch !== epoch) this.#targetsOf = { epoch, ids: ctx.presence.rotationTargets() };
    return this.#targetsOf.ids.filter((id) => {
      if (revoked.has(id) || ctx.revocations.isSubjectRevoked(id)) {
        ctx.presence.forget(id);
        return false;
      }
      return !granted.has(id);
    });
  }

  async #prepare(record: EpochRecord, ids: readonly string[]): Promise<PreparedGrants & { ms: number }> {
    const started = process.hrtime.bigint();
    const recipients = await Promise.all(ids.map((id) => this.ctx.directory.device(id)));
    const targets: DeviceTarget[] = [];
    ids.forEach((deviceId, i) => {
      const recipient = recipients[i];
      if (recipient) targets.push({ deviceId, recipient });
      else this.ctx.log.debug({ event: 'rotation-skipped', deviceId, reason: 'no-certificate' }, 'no current certificate');
    });
    const prepared = await prepareGrants(this.ctx, record, targets, 'rotation');
    return { ...prepared, ms: Number(process.hrtime.bigint() - started) / 1e6 };
  }

  /** Keeps `retainEpochs` secrets before the current one; destroys the rest. */
  async #retain(epoch: number): Promise<void> {
    const keepFrom = epoch - this.ctx.opts.retainEpochs;
    if (keepFrom <= 1) return;
    const destroyed = await this.ctx.epochs.destroyBefore(keepFrom);
    if (destroyed > 0) audit(this.ctx, { action: 'epoch.secrets-destroyed', subject: String(keepFrom), detail: { before: keepFrom, count: destroyed } });
  }
}
