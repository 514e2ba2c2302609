import type { EpochRecord } from '../store/types.js';
import type { KdcContext } from './context.js';

/**
 * The store's current epoch is behind this KDC's high-water mark: the store lost acknowledged writes
 * (Redis killed with `appendfsync everysec`, restored from an older copy, or restarted empty). Said
 * loudly, once per detection; the caller moves the fleet to a number past the mark.
 */
export function storeBehind(ctx: KdcContext, stored: EpochRecord | undefined): void {
  const mark = ctx.epochs.highWater.mark!;
  ctx.metrics.storeBehind.inc();
  ctx.log.error({
    event: 'epoch-store-behind', storeEpoch: stored?.epoch ?? null, storeEpochCreatedAt: stored?.createdAt ?? null,
    highWater: mark.epoch, highWaterCreatedAt: new Date(mark.createdAt), next: ctx.epochs.floor,
  }, 'the store lost epochs this KDC has used: moving the fleet to a new epoch past the high-water mark');
  ctx.epochs.forgetLost(stored);
}
