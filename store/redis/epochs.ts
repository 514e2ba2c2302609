import { FleetkeyError } from '../../errors/index.js';
import { assertDeviceId, assertDeviceIds, assertEpoch, assertRequestClaims, assertRotationLease, decodeJson, encodeJson, limits, pageLimit } from '../records.js';
import { openEpochSecret, sealNextEpochSecret } from '../secrets.js';
import type { EpochProgress, EpochRecord, NewEpochOptions, RekeyRequestClaim, StoreEvent } from '../types.js';
import { execAll, type RedisContext } from './context.js';


/**
 * Epochs: the current number, a hash epoch → record JSON and a hash epoch → sealed secret.
 * Grants: a hash per epoch, device → last grant number (its length is the devices granted);
 * acks: a hash per epoch, device → highest grant acknowledged.
 */
export const epochScripts = {
  // Compare-and-set: of concurrent rotations from the same epoch exactly one creates the next (an
  // existing number is never overwritten); with a holder (ARGV[7]) its lease is taken in the same step.
  fkCreateEpoch: `
if tonumber(redis.call('GET', KEYS[1]) or '0') ~= tonumber(ARGV[1]) then return 0 end
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[3], ARGV[2], ARGV[4])
if ARGV[7] ~= '' then redis.call('SET', KEYS[4], ARGV[7], 'PX', ARGV[8]) end
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1`,

  // Take or renew: free, expired or already ours.
  fkLeaseRotation: `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1`,

  fkReleaseRotation: `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1`,

  fkDeleteSecrets: `
local before, current = tonumber(ARGV[1]), tonumber(redis.call('GET', KEYS[1]) or '0')
if before > current then return refuse('STORE_INPUT_INVALID', 'epoch ' .. ARGV[1] .. ' is past the current ' .. current) end
local n = 0
for _, e in ipairs(redis.call('HKEYS', KEYS[2])) do
  if tonumber(e) < before then
    redis.call('HDEL', KEYS[2], e)
    n = n + 1
  end
end
return n`,

  fkNextGrants: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return refuse('EPOCH_NOT_FOUND', 'epoch ' .. ARGV[1]) end
local granted = {}
for i = 2, #ARGV do granted[i - 1] = redis.call('HINCRBY', KEYS[2], ARGV[i], 1) end
return granted`,

  // KEYS: (grants, acks) per epoch; ARGV: per epoch a count, then that many (device, grant) pairs.
  fkRecordAcks: `
local a = 1
for k = 1, #KEYS, 2 do
  local n = tonumber(ARGV[a])
  a = a + 1
  for _ = 1, n do
    local device, grant = ARGV[a], tonumber(ARGV[a + 1])
    a = a + 2
    local issued = tonumber(redis.call('HGET', KEYS[k], device) or '0')
    local acked = tonumber(redis.call('HGET', KEYS[k + 1], device) or '0')
    if grant <= issued and grant > acked then redis.call('HSET', KEYS[k + 1], device, grant) end
  end
end
return 1`,
};

export async function currentEpoch(ctx: RedisContext): Promise<EpochRecord | undefined> {
  const current = await ctx.run('currentEpoch', (r) => r.get(ctx.keys.currentEpoch));
  return current === null ? undefined : getEpoch(ctx, Number(current));
}

export async function getEpoch(ctx: RedisContext, epoch: number): Promise<EpochRecord | undefined> {
  assertEpoch(epoch);
  const json = await ctx.run('getEpoch', (r) => r.hget(ctx.keys.epochs, String(epoch)));
  return json === null ? undefined : decodeJson<EpochRecord>(json);
}

export async function createNextEpoch(
  ctx: RedisContext, expectedCurrent: number, secret: Buffer, kek: Buffer, activatesAt: Date, options: NewEpochOptions = {},
): Promise<EpochRecord | undefined> {
  const { epoch, sealed } = sealNextEpochSecret(expectedCurrent, secret, kek, activatesAt, options.minimum);
  const { lease } = options;
  if (lease) assertRotationLease(epoch, lease.holder, lease.ttlMs);
  const record: EpochRecord = { epoch, createdAt: ctx.now(), activatesAt, state: 'distributing' };
  const { keys } = ctx;
  const rotated: StoreEvent = { type: 'rotated', epoch, activatesAt: activatesAt.toISOString() };
  const created = await ctx.scriptPublishing('fkCreateEpoch', [keys.currentEpoch, keys.epochs, keys.epochSecrets, keys.rotationLease(epoch)], [rotated], ([message]) => [
    expectedCurrent, epoch, encodeJson(record), sealed, keys.events, message!, lease?.holder ?? '', lease?.ttlMs ?? 0,
  ], { durable: true });
  return created === 1 ? record : undefined;
}

export async function leaseRotation(ctx: RedisContext, epoch: number, holder: string, ttlMs: number): Promise<boolean> {
  assertRotationLease(epoch, holder, ttlMs);
  return (await ctx.script('fkLeaseRotation', [ctx.keys.rotationLease(epoch)], [holder, ttlMs])) === 1;
}

export async function releaseRotation(ctx: RedisContext, epoch: number, holder: string): Promise<void> {
  assertRotationLease(epoch, holder);
  await ctx.script('fkReleaseRotation', [ctx.keys.rotationLease(epoch)], [holder]);
}

export async function markEpochDistributed(ctx: RedisContext, epoch: number): Promise<void> {
  const record = await existing(ctx, epoch);
  if (record.state === 'distributed') return;
  await ctx.run('markEpochDistributed', (r) => r.hset(ctx.keys.epochs, String(epoch), encodeJson({ ...record, state: 'distributed' })));
}

export async function epochSecret(ctx: RedisContext, epoch: number, kek: Buffer): Promise<Buffer | undefined> {
  assertEpoch(epoch);
  const sealed = await ctx.run('epochSecret', (r) => r.hgetBuffer(ctx.keys.epochSecrets, String(epoch)));
  return sealed === null ? undefined : openEpochSecret(kek, epoch, sealed);
}

/** Refuses to reach past the current epoch: its secret is the one the fleet is using. */
export async function deleteEpochSecretsBefore(ctx: RedisContext, epoch: number): Promise<number> {
  assertEpoch(epoch);
  return Number(await ctx.script('fkDeleteSecrets', [ctx.keys.currentEpoch, ctx.keys.epochSecrets], [epoch]));
}

/**
 * Scripts run on Redis's one thread: a batch goes in chunks, so that no script holds Redis (and every
 * broker and KDC on it) for long, nor runs into the command timeout on a busy machine.
 */
const SCRIPT_CHUNK = 5_000;

function chunks<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * A device listed twice gets one number. Each chunk is one atomic script; if a later chunk fails, the
 * numbers an earlier one took are simply never used — grant numbers may skip, never repeat.
 */
export async function nextGrants(ctx: RedisContext, deviceIds: readonly string[], epoch: number): Promise<Map<string, number>> {
  assertDeviceIds(deviceIds, limits.grantBatchMax);
  assertEpoch(epoch);
  const ids = [...new Set(deviceIds)];
  const results = await Promise.all(
    chunks(ids, SCRIPT_CHUNK).map((part) => ctx.script('fkNextGrants', [ctx.keys.epochs, ctx.keys.grants(epoch)], [epoch, ...part], { durable: true }) as Promise<number[]>),
  );
  const granted = results.flat();
  return new Map(ids.map((id, i) => [id, granted[i]!]));
}

/** Each claim is a SET NX PX of its own key: the first replica's SET takes it, later ones find it there. */
export async function claimRekeyRequests(ctx: RedisContext, requests: readonly RekeyRequestClaim[], ttlMs: number): Promise<Set<string>> {
  assertRequestClaims(requests, ttlMs);
  const answers = await Promise.all(chunks(requests, SCRIPT_CHUNK).map((part) =>
    ctx.run('claimRekeyRequests', (r) => {
      const pipeline = r.pipeline();
      for (const { id, nonce } of part) pipeline.set(ctx.keys.rekeyClaim(id, nonce), '1', 'PX', ttlMs, 'NX');
      return execAll(pipeline.exec());
    })));
  const won = new Set<string>();
  answers.flat().forEach((answer, i) => {
    if (answer === 'OK') won.add(requests[i]!.id);
  });
  return won;
}

/** Acks of grants never issued are ignored; an ack keeps the highest grant acknowledged. */
export async function recordAcks(ctx: RedisContext, acks: readonly { deviceId: string; epoch: number; grant: number }[]): Promise<void> {
  if (!Array.isArray(acks) || acks.length > limits.ackBatchMax) throw new FleetkeyError('STORE_INPUT_INVALID', `batch of ${acks?.length}`);
  const byEpoch = new Map<number, (string | number)[]>();
  for (const { deviceId, epoch, grant } of acks) {
    assertDeviceId(deviceId);
    assertEpoch(epoch);
    if (!Number.isSafeInteger(grant) || grant < 1) throw new FleetkeyError('STORE_INPUT_INVALID', `grant ${grant}`);
    const pairs = byEpoch.get(epoch) ?? [];
    byEpoch.set(epoch, pairs);
    pairs.push(deviceId, grant);
  }
  // Acks are idempotent, so chunks need no atomicity between them.
  await Promise.all([...byEpoch].flatMap(([epoch, pairs]) =>
    chunks(pairs, 2 * SCRIPT_CHUNK).map((part) =>
      ctx.script('fkRecordAcks', [ctx.keys.grants(epoch), ctx.keys.acks(epoch)], [part.length / 2, ...part]))));
}

export async function epochProgress(ctx: RedisContext, epoch: number): Promise<EpochProgress> {
  assertEpoch(epoch);
  const [known, granted, acked] = await ctx.run('epochProgress', (r) =>
    execAll(r.multi().hexists(ctx.keys.epochs, String(epoch)).hlen(ctx.keys.grants(epoch)).hlen(ctx.keys.acks(epoch)).exec()),
  );
  if (known !== 1) throw new FleetkeyError('EPOCH_NOT_FOUND', `epoch ${epoch}`);
  return { epoch, granted: Number(granted), acked: Number(acked) };
}

/** In device id order. */
export async function listUnacked(ctx: RedisContext, epoch: number, limit?: number): Promise<string[]> {
  assertEpoch(epoch);
  const max = pageLimit(limit, limits.grantBatchMax, limits.grantBatchMax);
  const [known, granted, acked] = await ctx.run('listUnacked', (r) =>
    execAll(r.multi().hexists(ctx.keys.epochs, String(epoch)).hkeys(ctx.keys.grants(epoch)).hkeys(ctx.keys.acks(epoch)).exec()),
  );
  if (known !== 1) throw new FleetkeyError('EPOCH_NOT_FOUND', `epoch ${epoch}`);
  const done = new Set(acked as string[]);
  return (granted as string[]).filter((id) => !done.has(id)).sort().slice(0, max);
}

/** In device id order. */
export async function listGranted(ctx: RedisContext, epoch: number, limit?: number): Promise<string[]> {
  assertEpoch(epoch);
  const max = pageLimit(limit, limits.grantBatchMax, limits.grantBatchMax);
  const [known, granted] = await ctx.run('listGranted', (r) => execAll(r.multi().hexists(ctx.keys.epochs, String(epoch)).hkeys(ctx.keys.grants(epoch)).exec()));
  if (known !== 1) throw new FleetkeyError('EPOCH_NOT_FOUND', `epoch ${epoch}`);
  return (granted as string[]).sort().slice(0, max);
}

async function existing(ctx: RedisContext, epoch: number): Promise<EpochRecord> {
  const record = await getEpoch(ctx, epoch);
  if (record === undefined) throw new FleetkeyError('EPOCH_NOT_FOUND', `epoch ${epoch}`);
  return record;
}
