import type { KdcContext } from './context.js';

/**
 * This KDC's lease on distributing one epoch (Store.leaseRotation), renewed every third of
 * `leaseMs` while it works. A renewal the store refuses means another replica took the epoch over
 * (this one was silent past the lease, e.g. through a long store outage): `lost` turns true and the
 * distribution stops at its next batch. A renewal that fails because the store is away is retried at
 * the next tick; the distribution itself notices the outage.
 */
export class RotationLease {
  #lost = false;
  readonly #timer: NodeJS.Timeout;

  private constructor(private readonly ctx: KdcContext, readonly epoch: number, private readonly holder: string) {
    this.#timer = setInterval(() => void this.renew().catch(() => undefined), Math.max(100, Math.floor(ctx.opts.leaseMs / 3)));
    this.#timer.unref();
  }

  /** Takes the lease if it is free (or already this holder's); undefined while another holder has it. */
  static async take(ctx: KdcContext, epoch: number, holder: string): Promise<RotationLease | undefined> {
    return (await ctx.store.leaseRotation(epoch, holder, ctx.opts.leaseMs)) ? new RotationLease(ctx, epoch, holder) : undefined;
  }

  /** A lease taken with the epoch's creation (`createNextEpoch`'s `lease` option). */
  static held(ctx: KdcContext, epoch: number, holder: string): RotationLease {
    return new RotationLease(ctx, epoch, holder);
  }

  get lost(): boolean {
    return this.#lost;
  }

  /** Renews now: false (and `lost`) if another holder has it. Throws STORE_UNAVAILABLE while the store is away. */
  async renew(): Promise<boolean> {
    if (this.#lost) return false;
    const held = await this.ctx.store.leaseRotation(this.epoch, this.holder, this.ctx.opts.leaseMs);
    if (!held) {
      this.#lost = true;
      this.ctx.log.warn({ event: 'rotation-lease-lost', epoch: this.epoch }, 'another KDC replica took over this rotation');
    }
    return held;
  }

  /** Stops renewing and gives the lease up (best effort: it runs out by itself otherwise). */
  async release(): Promise<void> {
    clearInterval(this.#timer);
    if (!this.#lost) await this.ctx.store.releaseRotation(this.epoch, this.holder).catch(() => undefined);
  }
}
