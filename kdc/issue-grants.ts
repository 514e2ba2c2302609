import type { EpochRecord } from '../store/types.js';
import { deviceTopics } from '../protocol/topics.js';
import type { Recipient } from './certificates.js';
import { grantedSet, nowMs, seconds, type KdcContext } from './context.js';
import type { GrantJob } from './grant-jobs.js';

/** A device to grant: its id, its current certificate key, and the nonce when answering a request. */
export interface DeviceTarget {
  readonly deviceId: string;
  readonly recipient: Recipient;
  readonly req?: string | undefined;
}

export type GrantKind = 'request' | 'rotation';

/** Grants whose numbers are persisted, ready to build. */
export interface PreparedGrants {
  readonly epoch: EpochRecord;
  readonly kind: GrantKind;
  readonly jobs: GrantJob[];
}

/**
 * Step 1 of issuing grants: take the next grant number of every target in one store call, persisted
 * before anything is published (DESIGN.md: "incremented and persisted before a grant is published,
 * so no two grants ever share a key"). A number whose grant is never published is simply skipped.
 *
 * Times: iat = now; a rotation grant's nbf is the epoch's activation (devices switch together); an
 * answer to a request is usable at once, or at the activation of an epoch still being distributed;
 * exp = nbf + grantTtlSeconds.
 */
export async function prepareGrants(ctx: KdcContext, epoch: EpochRecord, targets: readonly DeviceTarget[], kind: GrantKind): Promise<PreparedGrants> {
  if (targets.length === 0) return { epoch, kind, jobs: [] };
  const numbers = await ctx.store.nextGrants(targets.map((t) => t.deviceId), epoch.epoch);
  const iat = seconds(nowMs(ctx));
  const activates = Math.ceil(epoch.activatesAt.getTime() / 1000);
  const nbf = kind === 'rotation' ? activates : Math.max(iat, activates);
  const exp = Math.max(nbf, iat) + ctx.opts.grantTtlSeconds;
  const jobs = targets.map((t): GrantJob => ({
    deviceId: t.deviceId, spki: t.recipient.spki.toString('base64'), epoch: epoch.epoch, grant: numbers.get(t.deviceId)!, req: t.req, iat, nbf, exp,
  }));
  return { epoch, kind, jobs };
}

/** Step 2: build (on the worker pool) and publish each grant to devices/D/rekey as soon as it is made. */
export async function buildAndPublish(ctx: KdcContext, prepared: PreparedGrants): Promise<{ issued: number; failed: number }> {
  const { epoch, kind, jobs } = prepared;
  if (jobs.length === 0) return { issued: 0, failed: 0 };
  const secret = await ctx.epochs.secret(epoch.epoch);
  const granted = grantedSet(ctx, epoch.epoch);
  const publishing: Promise<void>[] = [];
  let failed = 0;
  await ctx.pool.build(jobs, new Map([[epoch.epoch, secret]]), (offset, results) => {
    results.forEach((result, i) => {
      const job = jobs[offset + i]!;
      if ('jws' in result) {
        granted.add(job.deviceId);
        publishing.push(ctx.publish(deviceTopics.rekey(job.deviceId), result.jws).then(
          () => void ctx.metrics.grants.inc({ kind, outcome: 'issued' }),
          (err: unknown) => {
            failed++;
            ctx.metrics.grants.inc({ kind, outcome: 'failed' });
            ctx.log.error({ event: 'grant-publish-failed', deviceId: job.deviceId, epoch: job.epoch, grant: job.grant, err }, 'grant not published');
          },
        ));
      } else {
        failed++;
        ctx.metrics.grants.inc({ kind, outcome: 'failed' });
        ctx.log.error({ event: 'grant-build-failed', deviceId: job.deviceId, epoch: job.epoch, grant: job.grant, code: result.error, detail: result.detail }, 'grant not built');
      }
    });
  });
  await Promise.all(publishing);
  return { issued: jobs.length - failed, failed };
}
