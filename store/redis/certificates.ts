import type { RevocationReason } from '../../certs/types.js';
import { FleetkeyError } from '../../errors/index.js';
import {
  assertDate, assertDeviceId, assertReason, assertSerial, assertText, assertToken, auditActions, decodeJson, encodeJson, isDeviceId, validateCertificate,
} from '../records.js';
import { hashToken } from '../secrets.js';
import type { CertificateRecord, RevocationRecord, StoreEvent } from '../types.js';
import type { RedisContext } from './context.js';

/** Attempts of revokeDevice and reprovisionDevice when certificates change under them (each re-reads them). */
const REVOKE_ATTEMPTS = 10;

/**
 * Certificates: hash serial → JSON, a sorted set per subject (by issuedAt) and one of unrevoked
 * serials by notAfter. Revocations: hash serial → JSON. Certificates are never removed and a
 * revocation is never undone, which is what lets revokeDevice and reprovisionDevice check their
 * reading by a count. Every revoking script increments the revocation sequence and writes the new
 * value into the events it publishes, which JavaScript built with `"seq":0` as their last field.
 */
const WITH_SEQ = `
local function withSeq(message, seq)
  return (string.gsub(message, '"seq":0}', '"seq":' .. seq .. '}', 1))
end
`;

/** A revoking event as published: `seq` last, 0 until the script fills it in. */
function sequenced<T extends StoreEvent>(event: T): T {
  return { ...event, seq: 0 };
}

export const certificateScripts = {
  fkRecordCert: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return refuse('CERTIFICATE_EXISTS', ARGV[1]) end
if #KEYS == 4 then
  local status = redis.call('HGET', KEYS[4], 'status')
  if not status then return refuse('DEVICE_NOT_FOUND', ARGV[5]) end
  if status == 'revoked' then return refuse('DEVICE_STATE_CONFLICT', ARGV[5] .. ' is revoked') end
end
if ARGV[6] ~= '' and not redis.call('ZSCORE', KEYS[2], ARGV[6]) then
  return refuse('CERTIFICATE_NOT_FOUND', ARGV[6] .. ' is no certificate of ' .. ARGV[5])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('ZADD', KEYS[3], ARGV[4], ARGV[1])
return 1`,

  fkRevokeCert: WITH_SEQ + `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return refuse('CERTIFICATE_ALREADY_REVOKED', ARGV[1]) end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZREM', KEYS[2], ARGV[1])
audit(KEYS[3], KEYS[4], ARGV[3])
local seq = redis.call('INCR', KEYS[5])
redis.call('PUBLISH', ARGV[4], withSeq(ARGV[5], seq))
return 1`,

  // Returns 0 when the device's certificates changed since the caller read them: it reads again.
  fkRevokeDevice: WITH_SEQ + `
local id, now = ARGV[1], ARGV[2]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return refuse('DEVICE_NOT_FOUND', id) end
if status == 'revoked' then return refuse('DEVICE_STATE_CONFLICT', id .. ' is already revoked') end
if not heldUnchanged(KEYS[5], KEYS[6], ARGV[3], 8) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'revoked', 'updatedAt', now)
redis.call('HDEL', KEYS[1], 'tokenHash', 'tokenExpiresAt')
redis.call('ZREM', status == 'active' and KEYS[3] or KEYS[2], id)
redis.call('ZADD', KEYS[4], 0, id)
revokeHeld(KEYS[6], KEYS[7], 8)
audit(KEYS[8], KEYS[9], ARGV[4])
local seq = redis.call('INCR', KEYS[10])
redis.call('PUBLISH', ARGV[5], withSeq(ARGV[6], seq))
redis.call('PUBLISH', ARGV[5], withSeq(ARGV[7], seq))
return 1`,

  // As fkRevokeDevice, but the device goes back to registered with a new token.
  fkReprovision: WITH_SEQ + `
local id, now = ARGV[1], ARGV[2]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return refuse('DEVICE_NOT_FOUND', id) end
if status ~= 'active' then return refuse('DEVICE_STATE_CONFLICT', id .. ' is ' .. status) end
if not heldUnchanged(KEYS[4], KEYS[5], ARGV[3], 10) then return 0 end
redis.call('HSET', KEYS[1], 'status', 'registered', 'updatedAt', now, 'tokenHash', ARGV[4], 'tokenExpiresAt', ARGV[5])
redis.call('HDEL', KEYS[1], 'enrolledAt')
redis.call('ZREM', KEYS[3], id)
redis.call('ZADD', KEYS[2], 0, id)
revokeHeld(KEYS[5], KEYS[6], 10)
audit(KEYS[7], KEYS[8], ARGV[6])
local seq = redis.call('INCR', KEYS[9])
redis.call('PUBLISH', ARGV[7], withSeq(ARGV[8], seq))
redis.call('PUBLISH', ARGV[7], ARGV[9])
return 1`,
};

export async function recordCertificate(ctx: RedisContext, certificate: CertificateRecord): Promise<void> {
  validateCertificate(certificate);
  const { keys } = ctx;
  const { serial, subject } = certificate;
  const keyList = [keys.certificates, keys.certificatesOf(subject), keys.expiry];
  if (isDeviceId(subject)) keyList.push(keys.device(subject));
  await ctx.script('fkRecordCert', keyList, [serial, encodeJson(certificate), certificate.issuedAt.getTime(), certificate.notAfter.getTime(), subject, certificate.supersedes ?? '']);
}

export async function getCertificate(ctx: RedisContext, serial: string): Promise<CertificateRecord | undefined> {
  assertSerial(serial);
  const json = await ctx.run('getCertificate', (r) => r.hget(ctx.keys.certificates, serial));
  return json === null ? undefined : decodeJson<CertificateRecord>(json);
}

/** Oldest first. */
export async function listCertificates(ctx: RedisContext, subject: string): Promise<CertificateRecord[]> {
  assertText('subject', subject);
  return certificatesOf(ctx, await ctx.run('listCertificates', (r) => r.zrange(ctx.keys.certificatesOf(subject), '0', '-1')));
}

/** Soonest to expire first. */
export async function listExpiringCertificates(ctx: RedisContext, before: Date): Promise<CertificateRecord[]> {
  assertDate('before', before);
  const serials = await ctx.run('listExpiringCertificates', (r) => r.zrangebyscore(ctx.keys.expiry, '-inf', `(${before.getTime()}`));
  return certificatesOf(ctx, serials);
}

export async function revokeCertificate(ctx: RedisContext, serial: string, reason: RevocationReason, actor: string): Promise<RevocationRecord> {
  assertSerial(serial);
  assertReason(reason);
  assertText('actor', actor);
  const certificate = await getCertificate(ctx, serial);
  if (certificate === undefined) throw new FleetkeyError('CERTIFICATE_NOT_FOUND', serial);
  const now = ctx.now();
  const record: RevocationRecord = { serial, subject: certificate.subject, reason, revokedAt: now };
  const { keys } = ctx;
  const event: StoreEvent = sequenced({ type: 'revoked', subject: certificate.subject, serials: [serial], reason, at: now.toISOString() });
  const entry = ctx.auditEntry(now, { actor, action: auditActions.revokeCertificate, subject: serial, detail: { reason, device: certificate.subject } });
  await ctx.scriptPublishing('fkRevokeCert', [keys.revocations, keys.expiry, ...ctx.auditKeys(serial), keys.revocationSeq], [event], ([message]) => [
    serial, encodeJson(record), entry, keys.events, message!,
  ], { durable: true });
  return record;
}

/**
 * Takes an active device back to registered with a new token, revoking (superseded) each of its
 * serials not revoked yet, in one script; returns the new revocations.
 */
export async function reprovisionDevice(ctx: RedisContext, id: string, token: string, expiresAt: Date, actor: string): Promise<RevocationRecord[]> {
  assertDeviceId(id);
  assertToken(token);
  assertDate('expiresAt', expiresAt);
  assertText('actor', actor);
  const { keys } = ctx;
  for (let attempt = 1; attempt <= REVOKE_ATTEMPTS; attempt++) {
    const { held, revoked } = await heldSerials(ctx, 'reprovisionDevice', id);
    const now = ctx.now();
    const records: RevocationRecord[] = held.filter((_, i) => revoked[i] === null).map((serial) => ({ serial, subject: id, reason: 'superseded', revokedAt: now }));
    const serials = records.map((rec) => rec.serial);
    const events: StoreEvent[] = [
      sequenced({ type: 'revoked', subject: id, serials, reason: 'superseded', at: now.toISOString() }),
      { type: 'device-changed', deviceId: id, status: 'registered' },
    ];
    const entry = ctx.auditEntry(now, { actor, action: auditActions.reprovision, subject: id, detail: { serials } });
    const done = await ctx.scriptPublishing(
      'fkReprovision',
      [keys.device(id), keys.devices('registered'), keys.devices('active'), keys.certificatesOf(id), keys.revocations, keys.expiry, ...ctx.auditKeys(id), keys.revocationSeq],
      events,
      ([revokedEvent, changed]) => [id, now.getTime(), held.length, hashToken(token), expiresAt.getTime(), entry, keys.events, revokedEvent!, changed!,
        ...records.flatMap((rec) => [rec.serial, encodeJson(rec)])],
      { durable: true },
    );
    if (done === 1) return records;
  }
  throw new FleetkeyError('STORE_UNAVAILABLE', `reprovisionDevice ${id}: certificates kept changing`);
}

/** The device's serials and, for each, its revocation record (null when not revoked). */
async function heldSerials(ctx: RedisContext, op: string, id: string): Promise<{ held: string[]; revoked: (string | null)[] }> {
  return ctx.run(op, async (r) => {
    const serials = await r.zrange(ctx.keys.certificatesOf(id), '0', '-1');
    return { held: serials, revoked: serials.length === 0 ? [] : await r.hmget(ctx.keys.revocations, ...serials) };
  });
}

/** Revokes the device and each of its serials not revoked yet; returns the new revocations. */
export async function revokeDevice(ctx: RedisContext, id: string, reason: RevocationReason, actor: string): Promise<RevocationRecord[]> {
  assertDeviceId(id);
  assertReason(reason);
  assertText('actor', actor);
  const { keys } = ctx;
  for (let attempt = 1; attempt <= REVOKE_ATTEMPTS; attempt++) {
    const { held, revoked } = await heldSerials(ctx, 'revokeDevice', id);
    const now = ctx.now();
    const records: RevocationRecord[] = held.filter((_, i) => revoked[i] === null).map((serial) => ({ serial, subject: id, reason, revokedAt: now }));
    const serials = records.map((rec) => rec.serial);
    const events: StoreEvent[] = [
      sequenced({ type: 'revoked', subject: id, serials, reason, at: now.toISOString() }),
      sequenced({ type: 'device-changed', deviceId: id, status: 'revoked' }),
    ];
    const entry = ctx.auditEntry(now, { actor, action: auditActions.revokeDevice, subject: id, detail: { reason, serials } });
    const done = await ctx.scriptPublishing(
      'fkRevokeDevice',
      [keys.device(id), keys.devices('registered'), keys.devices('active'), keys.devices('revoked'), keys.certificatesOf(id), keys.revocations, keys.expiry, ...ctx.auditKeys(id), keys.revocationSeq],
      events,
      ([revoked, changed]) => [id, now.getTime(), held.length, entry, keys.events, revoked!, changed!, ...records.flatMap((rec) => [rec.serial, encodeJson(rec)])],
      { durable: true },
    );
    if (done === 1) return records;
  }
  throw new FleetkeyError('STORE_UNAVAILABLE', `revokeDevice ${id}: certificates kept changing`);
}

/** Oldest first. */
export async function listRevocations(ctx: RedisContext): Promise<RevocationRecord[]> {
  const all = await ctx.run('listRevocations', (r) => r.hvals(ctx.keys.revocations));
  return all
    .map((json) => decodeJson<RevocationRecord>(json))
    .sort((a, b) => a.revokedAt.getTime() - b.revokedAt.getTime() || a.serial.localeCompare(b.serial));
}

export async function revocationSeq(ctx: RedisContext): Promise<number> {
  return Number(await ctx.run('revocationSeq', (r) => r.get(ctx.keys.revocationSeq)) ?? 0);
}

export async function nextCrlNumber(ctx: RedisContext): Promise<bigint> {
  return BigInt(await ctx.run('nextCrlNumber', (r) => r.incr(ctx.keys.crlNumber)));
}

async function certificatesOf(ctx: RedisContext, serials: string[]): Promise<CertificateRecord[]> {
  if (serials.length === 0) return [];
  const found = await ctx.run('certificates', (r) => r.hmget(ctx.keys.certificates, ...serials));
  return found.filter((json) => json !== null).map((json) => decodeJson<CertificateRecord>(json));
}
