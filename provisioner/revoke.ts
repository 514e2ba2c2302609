import type { RevocationReason } from '../certs/types.js';
import type { RevocationRecord } from '../store/types.js';
import type { ProvisionerContext } from './context.js';

/**
 * Revoking a device: the store records the device and every serial it holds as revoked, writes the
 * audit entry and publishes `revoked` + `device-changed` in the same step (brokers cut live sessions,
 * every provisioner replica rebuilds its CRL on the event); this replica's CRL is rebuilt before the
 * answer, so a `GET /v1/crl` right after lists the serials.
 */
export async function revokeDevice(ctx: ProvisionerContext, id: string, reason: RevocationReason, actor: string): Promise<RevocationRecord[]> {
  const records = await ctx.store.revokeDevice(id, reason, actor);
  for (const record of records) ctx.metrics.revocations.inc({ reason: record.reason });
  try {
    await ctx.crl.refresh();
  } catch (err) {
    // Recorded and published all the same; the next event or the schedule retries the CRL.
    ctx.log.error({ event: 'crl-build-failed', deviceId: id, err }, 'CRL rebuild after a revocation failed');
  }
  ctx.log.info({ event: 'device-revoked', deviceId: id, reason, serials: records.map((r) => r.serial), actor }, 'device revoked');
  return records;
}
