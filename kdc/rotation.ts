import { randomBytes } from 'node:crypto';
import type { EpochRecord } from '../store/types.js';
import type { ConsumerGrants } from './consumers.js';
import { audit, grantedSet, nowMs, type KdcContext } from './context.js';
import { buildAndPublish, prepareGrants, type DeviceTarget, type PreparedGrants } from './issue-grants.js';

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

/**
 * Rotation (DESIGN.md "Session keys", step 4), as named steps:
 *   rotateEpoch       create epoch e+1 in the store by compare-and-set: of racing replicas one wins
 *   distributeEpoch   push e+1 to consumers, then grant every connected unrevoked device, nbf ahead;
 *                     mark the epoch distributed; destroy secrets past retention
 *   completeOnStart   an epoch left `distributing` by a killed KDC is distributed again on start
 * Grant numbers are persisted before each grant is published, so a repeated distribution never reuses
 * one: a device that got the first grant refuses the second as not newer, and its ack still counts.
 */
export class Rotation {
  #active: Promise<RotationResult> | undefined;

  constructor(private readonly ctx: KdcContext, private readonly consumers: ConsumerGrants) {}

  get busy(): boolean {
    return this.#active !== undefined;
  }

  /** One rotation at a time in this process; concurrent calls get `in-progress`. */
  rotate(request: RotationRequest = {}): Promise<RotationResult> {
    if (this.#active) {
      this.ctx.metrics.rotations.inc({ outcome: 'in-progress' });
      return Promise.resolve({ outcome: 'in-progress', epoch: this.ctx.epochs.current?.epoch ?? 0 });
    }
    const run = this.#rotateEpoch(request).finally(() => {
      this.#active = undefined;
    });
    this.#active = run;
    return run;
  }

  /** Completes an epoch a previous run left `distributing`. */
  async completeOnStart(): Promise<number | undefined> {
    const current = this.ctx.epochs.current;
    if (current?.state !== 'distributing' || this.#active) return undefined;
    this.ctx.log.info({ event: 'rotation-resumed', epoch: current.epoch }, 'completing an interrupted rotation');
    // Devices that acknowledged the epoch have it: only the others are granted again.
    const unacked = new Set(await this.ctx.store.listUnacked(current.epoch));
    const done = grantedSet(this.ctx, current.epoch);
    for (const id of await this.ctx.store.listGranted(current.epoch)) if (!unacked.has(id)) done.add(id);
    const run = this.#distribute(current).then((r): RotationResult => ({ outcome: 'rotated', epoch: current.epoch, activatesAt: current.activatesAt, ...r }));
    this.#active = run.finally(() => {
      this.#active = undefined;
    });
    return (await this.#active).outcome === 'rotated' ? current.epoch : undefined;
  }

  async #rotateEpoch(request: RotationRequest): Promise<RotationResult> {
    const { ctx } = this;
    const current = await ctx.store.currentEpoch();
    if (request.expectedEpoch !== undefined && (current?.epoch ?? 0) !== request.expectedEpoch) {
      ctx.metrics.rotations.inc({ outcome: 'lost' });
      ctx.log.info({ event: 'rotation-lost', epoch: current?.epoch }, 'the request was answered by another rotation');
      return { outcome: 'lost', epoch: current?.epoch ?? 0 };
    }
    if (current?.state === 'distributing') {
      if (nowMs(ctx) - current.createdAt.getTime() < ctx.opts.takeoverAfterMs) {
        ctx.metrics.rotations.inc({ outcome: 'in-progress' });
        return { outcome: 'in-progress', epoch: current.epoch };
      }
      ctx.log.warn({ event: 'rotation-takeover', epoch: current.epoch }, 'taking over a stalled rotation');
      await ctx.epochs.adopt(current);
      await this.#distribute(current);
    }
    const switchAfter = request.switchAfterSeconds ?? ctx.opts.switchAfterSeconds;
    const activatesAt = new Date(Math.ceil((nowMs(ctx) + switchAfter * 1000) / 1000) * 1000);
    const secret = randomBytes(32);
    const expected = current?.epoch ?? 0;
    const record = await ctx.store.createNextEpoch(expected, secret, ctx.opts.kek, activatesAt);
    if (!record) {
      secret.fill(0);
      ctx.metrics.rotations.inc({ outcome: 'lost' });
      ctx.log.info({ event: 'rotation-lost', epoch: expected + 1 }, 'another KDC created the next epoch');
      await ctx.epochs.refresh();
      return { outcome: 'lost', epoch: expected + 1 };
    }
    await ctx.epochs.adopt(record, secret);
    audit(ctx, { action: 'epoch.rotate', subject: String(record.epoch), detail: { requestedBy: request.requestedBy ?? 'kdc', activatesAt: activatesAt.toISOString() } });
    ctx.log.info({ event: 'rotation-started', epoch: record.epoch, activatesAt, requestedBy: request.requestedBy }, 'rotating');
    const { granted, failed } = await this.#distribute(record);
    ctx.metrics.rotations.inc({ outcome: 'rotated' });
    return { outcome: 'rotated', epoch: record.epoch, activatesAt, granted, failed };
  }

  /** distributeEpoch: consumers first, then devices in pipelined batches, then retention. */
  async #distribute(record: EpochRecord): Promise<{ granted: number; failed: number }> {
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
    let next = batches.length > 0 ? this.#prepare(record, batches[0]!) : undefined;
    for (let i = 0; next; i++) {
      const prepared = await next;
      next = i + 1 < batches.length ? this.#prepare(record, batches[i + 1]!) : undefined;
      const batchStarted = process.hrtime.bigint();
      const result = await buildAndPublish(ctx, prepared);
      granted += result.issued;
      failed += result.failed;
      ctx.log.debug({ event: 'rotation-batch', epoch: record.epoch, batch: i, grants: result.issued, prepareMs: prepared.ms, buildPublishMs: Number(process.hrtime.bigint() - batchStarted) / 1e6 }, 'rotation batch');
    }
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
    return ctx.presence.rotationTargets().filter((id) => {
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
