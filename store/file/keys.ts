import { FleetkeyError } from '../../errors/index.js';
import { assertDeviceId, assertDeviceIds, assertEpoch, assertRotationLease, limits, pageLimit } from '../records.js';
import { openEpochSecret, sealNextEpochSecret } from '../secrets.js';
import type { EpochProgress, EpochRecord, NewEpochOptions } from '../types.js';
import type { FileContext } from './context.js';


export function currentEpoch(ctx: FileContext): Promise<EpochRecord | undefined> {
  return ctx.settle(ctx.state.epochs.get(ctx.state.currentEpoch));
}

export function getEpoch(ctx: FileContext, epoch: number): Promise<EpochRecord | undefined> {
  assertEpoch(epoch);
  return ctx.settle(ctx.state.epochs.get(epoch));
}

export async function createNextEpoch(
  ctx: FileContext, expectedCurrent: number, secret: Buffer, kek: Buffer, activatesAt: Date, options: NewEpochOptions = {},
): Promise<EpochRecord | undefined> {
  const { epoch, sealed } = sealNextEpochSecret(expectedCurrent, secret, kek, activatesAt, options.minimum);
  const { lease } = options;
  if (lease) assertRotationLease(epoch, lease.holder, lease.ttlMs);
  if (ctx.state.currentEpoch !== expectedCurrent || ctx.state.epochs.has(epoch)) return ctx.settle(undefined);
  const record: EpochRecord = { epoch, createdAt: ctx.now(), activatesAt, state: 'distributing' };
  if (lease) leasesOf(ctx).set(epoch, { holder: lease.holder, until: Date.now() + lease.ttlMs });
  await ctx.commit([{ t: 'epoch', e: record, sealed }], [{ type: 'rotated', epoch, activatesAt: activatesAt.toISOString() }]);
  return record;
}

/** Rotation leases of a file: store: in memory only, like request claims (one process owns the store). */
const leases = new WeakMap<FileContext['state'], Map<number, { holder: string; until: number }>>();

function leasesOf(ctx: FileContext): Map<number, { holder: string; until: number }> {
  let map = leases.get(ctx.state);
  if (map === undefined) leases.set(ctx.state, (map = new Map()));
  return map;
}

export function leaseRotation(ctx: FileContext, epoch: number, holder: string, ttlMs: number): Promise<boolean> {
  assertRotationLease(epoch, holder, ttlMs);
  const now = Date.now();
  const map = leasesOf(ctx);
  const lease = map.get(epoch);
  if (lease !== undefined && lease.holder !== holder && lease.until > now) return ctx.settle(false);
  for (const [e, l] of map) if (l.until <= now) map.delete(e);
  map.set(epoch, { holder, until: now + ttlMs });
  return ctx.settle(true);
}

export function releaseRotation(ctx: FileContext, epoch: number, holder: string): Promise<void> {
  assertRotationLease(epoch, holder);
  const map = leasesOf(ctx);
  if (map.get(epoch)?.holder === holder) map.delete(epoch);
  return ctx.settle(undefined);
}

export async function markEpochDistributed(ctx: FileContext, epoch: number): Promise<void> {
  const record = existing(ctx, epoch);
  if (record.state === 'distributed') return ctx.settle(undefined);
  await ctx.commit([{ t: 'epoch', e: { ...record, state: 'distributed' } }]);
}

export function epochSecret(ctx: FileContext, epoch: number, kek: Buffer): Promise<Buffer | undefined> {
  assertEpoch(epoch);
  const sealed = ctx.state.sealedSecrets.get(epoch);
  return ctx.settle(sealed && openEpochSecret(kek, epoch, sealed));
}

/** Refuses to reach the current epoch: its secret is the one the fleet is using. */
export async function deleteEpochSecretsBefore(ctx: FileContext, epoch: number): Promise<number> {
  assertEpoch(epoch);
  if (epoch > ctx.state.currentEpoch) throw new FleetkeyError('STORE_INPUT_INVALID', `epoch ${epoch} is past the current ${ctx.state.currentEpoch}`);
  const epochs = [...ctx.state.sealedSecrets.keys()].filter((e) => e < epoch);
  if (epochs.length === 0) return ctx.settle(0);
  await ctx.commit([{ t: 'secret-del', epochs }]);
  return epochs.length;
}

/** A device listed twice gets one number. */
export async function nextGrants(ctx: FileContext, deviceIds: readonly string[], epoch: number): Promise<Map<string, number>> {
  assertDeviceIds(deviceIds, limits.grantBatchMax);
  existing(ctx, epoch);
  const issued = ctx.state.grants.get(epoch);
  const next = new Map<string, number>();
  for (const id of deviceIds) next.set(id, (issued?.get(id) ?? 0) + 1);
  if (next.size === 0) return next;
  await ctx.commit([{ t: 'grant', e: epoch, g: [...next] }]);
  return next;
}

/** Acks of grants never issued are ignored; an ack keeps the highest grant acknowledged. */
export async function recordAcks(ctx: FileContext, acks: readonly { deviceId: string; epoch: number; grant: number }[]): Promise<void> {
  if (!Array.isArray(acks) || acks.length > limits.ackBatchMax) throw new FleetkeyError('STORE_INPUT_INVALID', `batch of ${acks?.length}`);
  const byEpoch = new Map<number, Map<string, number>>();
  for (const { deviceId, epoch, grant } of acks) {
    assertDeviceId(deviceId);
    assertEpoch(epoch);
    if (!Number.isSafeInteger(grant) || grant < 1) throw new FleetkeyError('STORE_INPUT_INVALID', `grant ${grant}`);
    const issued = ctx.state.grants.get(epoch)?.get(deviceId) ?? 0;
    const acked = Math.max(ctx.state.acks.get(epoch)?.get(deviceId) ?? 0, byEpoch.get(epoch)?.get(deviceId) ?? 0);
    if (grant > issued || grant <= acked) continue;
    if (!byEpoch.has(epoch)) byEpoch.set(epoch, new Map());
    byEpoch.get(epoch)!.set(deviceId, grant);
  }
  if (byEpoch.size === 0) return ctx.settle(undefined);
  await ctx.commit([...byEpoch].map(([e, m]) => ({ t: 'ack' as const, e, a: [...m] })));
}

export function epochProgress(ctx: FileContext, epoch: number): Promise<EpochProgress> {
  existing(ctx, epoch);
  return ctx.settle({ epoch, granted: ctx.state.grants.get(epoch)?.size ?? 0, acked: ctx.state.acks.get(epoch)?.size ?? 0 });
}

export function listUnacked(ctx: FileContext, epoch: number, limit?: number): Promise<string[]> {
  existing(ctx, epoch);
  const max = pageLimit(limit, limits.grantBatchMax, limits.grantBatchMax);
  const acked = ctx.state.acks.get(epoch);
  const unacked: string[] = [];
  for (const id of ctx.state.grants.get(epoch)?.keys() ?? []) {
    if (unacked.length === max) break;
    if (!acked?.has(id)) unacked.push(id);
  }
  return ctx.settle(unacked);
}

export function listGranted(ctx: FileContext, epoch: number, limit?: number): Promise<string[]> {
  existing(ctx, epoch);
  const max = pageLimit(limit, limits.grantBatchMax, limits.grantBatchMax);
  return ctx.settle([...(ctx.state.grants.get(epoch)?.keys() ?? [])].slice(0, max));
}

function existing(ctx: FileContext, epoch: number): EpochRecord {
  assertEpoch(epoch);
  const record = ctx.state.epochs.get(epoch);
  if (record === undefined) throw new FleetkeyError('EPOCH_NOT_FOUND', `epoch ${epoch}`);
  return record;
}
