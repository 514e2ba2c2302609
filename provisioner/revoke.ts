import type { RevocationReason } from '../certs/types.js';
import type { NewDevice, RevocationRecord } from '../store/types.js';
import type { ProvisionerContext } from './context.js';
import { newDevices } from './registration.js';

/**
 * Revoking a device: the store records the device and every serial it holds as revoked, writes the
 * audit entry and publishes `revoked` + `device-changed` in the same step (brokers cut live sessions,
 * every provisioner replica rebuilds its CRL on the event); this replica's CRL is rebuilt before the
 * answer, so a `GET /v1/crl` right after lists the serials.
 */
export async function revokeDevice(ctx: ProvisionerContext, id: string, reason: RevocationReason, actor: string): Promise<RevocationRecord[]> {
  const records = await ctx.store.revokeDevice(id, reason, actor);
  await revoked(ctx, id, records);
  ctx.log.info({ event: 'device-revoked', deviceId: id, reason, serials: records.map((r) => r.serial), actor }, 'device revoked');
  return records;
}

/**
 * Re-provisioning an active device that lost its key: the store revokes its certificates (superseded)
 * and makes it `registered` again with a new one-time token, in one step; then as for a revocation.
 */
export async function reprovisionDevice(ctx: ProvisionerContext, id: string, actor: string): Promise<{ token: NewDevice; revoked: RevocationRecord[] }> {
  const [token] = newDevices([id], ctx.opts.enrollmentTokenTtlSeconds);
  const records = await ctx.store.reprovisionDevice(id, token!.token, token!.tokenExpiresAt, actor);
  await revoked(ctx, id, records);
  ctx.log.info({ event: 'device-reprovisioned', deviceId: id, serials: records.map((r) => r.serial), actor }, 'device re-provisioned: it may enroll again');
  return { token: token!, revoked: records };
}

/** Counts the revocations and rebuilds this replica's CRL before the answer. */
async function revoked(ctx: ProvisionerContext, id: string, records: readonly RevocationRecord[]): Promise<void> {
  for (const record of records) ctx.metrics.revocations.inc({ reason: record.reason });
  try {
    await ctx.crl.refresh();
  } catch (err) {
    // Recorded and published all the same; the next event or the schedule retries the CRL.
    ctx.log.error({ event: 'crl-build-failed', deviceId: id, err }, 'CRL rebuild after a revocation failed');
  }
}
