import { FleetkeyError } from '../../errors/index.js';
import {
  assertDate, assertDeviceId, assertStatus, assertText, assertToken, auditActions, decodeCursor, deviceStatuses,
  encodeCursor, encodeJson, enrollableDevice, assertEnrollingId, isDeviceId, pageLimit, validateCertificate, validateNewDevices,
  assertCertificateDer, assertRetryCertificate, decodeJson, type EnrollmentReceipt,
} from '../records.js';
import { hashToken } from '../secrets.js';
import type { CertificateRecord, DevicePage, Enrollment, DeviceRecord, DeviceStatus, NewDevice } from '../types.js';
import { execAll, type RedisContext } from './context.js';

/** Lua: the serial the token of hash `hash` enrolled device `device` with, while active, unexpired at `now` and unrevoked. */
const ENROLLED_BY = `
local function enrolledBy(device, revocations, hash, now)
  local d = redis.call('HMGET', device, 'status', 'usedTokenHash', 'usedTokenExpiresAt', 'enrolledSerial')
  if d[1] ~= 'active' or d[2] ~= hash or not d[3] or tonumber(d[3]) <= tonumber(now) or not d[4] then return nil end
  if redis.call('HEXISTS', revocations, d[4]) == 1 then return nil end
  return d[4]
end
`;

/**
 * A device is a hash: id, status, createdAt, updatedAt, enrolledAt (ms), and while it may enroll,
 * tokenHash and tokenExpiresAt; once enrolled, the receipt of its enrollment (store/records.ts
 * EnrollmentReceipt): usedTokenHash, usedTokenExpiresAt, enrolledSerial and enrolledDer (base64). It sits in the sorted set of all devices and in the one of its status.
 */
export const deviceScripts = {
  fkRegister: `
local n = tonumber(ARGV[2])
local taken = {}
for i = 1, n do
  if redis.call('EXISTS', KEYS[2 + 2 * i]) == 1 then taken[#taken + 1] = ARGV[4 * i - 1] end
end
if #taken > 0 then return refuse('DEVICE_EXISTS', 'already registered: ' .. table.concat(taken, ', ', 1, math.min(#taken, 10))) end
for i = 1, n do
  local id = ARGV[4 * i - 1]
  redis.call('HSET', KEYS[2 + 2 * i], 'id', id, 'status', 'registered', 'createdAt', ARGV[1], 'updatedAt', ARGV[1],
    'tokenHash', ARGV[4 * i], 'tokenExpiresAt', ARGV[4 * i + 1])
  redis.call('ZADD', KEYS[1], 0, id)
  redis.call('ZADD', KEYS[2], 0, id)
  audit(KEYS[3], KEYS[3 + 2 * i], ARGV[4 * i + 2])
end
return n`,

  fkRenewToken: `
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return refuse('DEVICE_NOT_FOUND', ARGV[1]) end
if status ~= 'registered' then return refuse('DEVICE_STATE_CONFLICT', ARGV[1] .. ' is ' .. status) end
redis.call('HSET', KEYS[1], 'tokenHash', ARGV[2], 'tokenExpiresAt', ARGV[3], 'updatedAt', ARGV[4])
audit(KEYS[2], KEYS[3], ARGV[5])
return 1`,

  // Token check, token use, certificate and status in one step: of concurrent attempts exactly one wins.
  fkEnroll: `
local id, now = ARGV[1], ARGV[3]
local d = redis.call('HMGET', KEYS[1], 'status', 'tokenHash', 'tokenExpiresAt')
local status, hash, expires = d[1], d[2], d[3]
if not status then return refuse('ENROLLMENT_REFUSED', id .. ': unknown device') end
if status == 'revoked' then return refuse('ENROLLMENT_REFUSED', id .. ': device revoked') end
if not hash or status ~= 'registered' then return refuse('ENROLLMENT_REFUSED', id .. ': token already used') end
if hash ~= ARGV[2] then return refuse('ENROLLMENT_REFUSED', id .. ': wrong token') end
if not expires or tonumber(expires) <= tonumber(now) then return refuse('ENROLLMENT_REFUSED', id .. ': token expired') end
if redis.call('HEXISTS', KEYS[4], ARGV[4]) == 1 then return refuse('CERTIFICATE_EXISTS', ARGV[4]) end
redis.call('HSET', KEYS[1], 'status', 'active', 'enrolledAt', now, 'updatedAt', now,
  'usedTokenHash', hash, 'usedTokenExpiresAt', expires, 'enrolledSerial', ARGV[4])
if ARGV[11] ~= '' then redis.call('HSET', KEYS[1], 'enrolledDer', ARGV[11]) else redis.call('HDEL', KEYS[1], 'enrolledDer') end
redis.call('HDEL', KEYS[1], 'tokenHash', 'tokenExpiresAt')
redis.call('ZREM', KEYS[2], id)
redis.call('ZADD', KEYS[3], 0, id)
redis.call('HSET', KEYS[4], ARGV[4], ARGV[5])
redis.call('ZADD', KEYS[5], ARGV[6], ARGV[4])
redis.call('ZADD', KEYS[6], ARGV[7], ARGV[4])
audit(KEYS[7], KEYS[8], ARGV[8])
redis.call('PUBLISH', ARGV[9], ARGV[10])
return 1`,

  // The enrollment a token made, if a retry may have it (store/records.ts retriedSerial): serial, certificate, DER.
  fkEnrolledBy: ENROLLED_BY + `
local serial = enrolledBy(KEYS[1], KEYS[3], ARGV[1], ARGV[2])
if not serial then return false end
return { serial, redis.call('HGET', KEYS[2], serial) or '', redis.call('HGET', KEYS[1], 'enrolledDer') or '' }`,

  // A retry's certificate, a pending successor of the enrolled one, recorded under the same checks.
  fkEnrollRetry: ENROLLED_BY + `
local serial = enrolledBy(KEYS[1], KEYS[5], ARGV[1], ARGV[2])
if not serial then return refuse('ENROLLMENT_REFUSED', ARGV[9] .. ': no enrollment of this token to retry') end
if serial ~= ARGV[7] then return refuse('STORE_INPUT_INVALID', "a retry's certificate supersedes " .. serial) end
if redis.call('HEXISTS', KEYS[2], ARGV[3]) == 1 then return refuse('CERTIFICATE_EXISTS', ARGV[3]) end
redis.call('HSET', KEYS[2], ARGV[3], ARGV[4])
redis.call('ZADD', KEYS[3], ARGV[5], ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[6], ARGV[3])
audit(KEYS[6], KEYS[7], ARGV[8])
return 1`,
};

export async function registerDevices(ctx: RedisContext, devices: readonly NewDevice[], actor: string): Promise<DeviceRecord[]> {
  validateNewDevices(devices);
  assertText('actor', actor);
  if (devices.length === 0) return [];
  const now = ctx.now();
  const { keys } = ctx;
  const keyList = [keys.devices(), keys.devices('registered'), keys.audit()];
  const args: (string | number)[] = [now.getTime(), devices.length];
  for (const d of devices) {
    keyList.push(keys.device(d.id), keys.audit(d.id));
    args.push(d.id, hashToken(d.token), d.tokenExpiresAt.getTime(), ctx.auditEntry(now, { actor, action: auditActions.register, subject: d.id }));
  }
  await ctx.script('fkRegister', keyList, args);
  return devices.map((d) => ({ id: d.id, status: 'registered', createdAt: now, updatedAt: now, tokenExpiresAt: d.tokenExpiresAt, enrolledAt: undefined }));
}

export async function getDevice(ctx: RedisContext, id: string): Promise<DeviceRecord | undefined> {
  assertDeviceId(id);
  return decodeDevice(await ctx.run('getDevice', (r) => r.hgetall(ctx.keys.device(id))));
}

export async function listDevices(ctx: RedisContext, query: { status?: DeviceStatus; cursor?: string; limit?: number }): Promise<DevicePage> {
  if (query.status !== undefined) assertStatus(query.status);
  const limit = pageLimit(query.limit);
  const after = query.cursor === undefined ? undefined : decodeCursor(query.cursor, isDeviceId);
  const from = after === undefined ? '-' : `(${after}`;
  const found = await ctx.run('listDevices', async (r) => {
    const ids = await r.zrangebylex(ctx.keys.devices(query.status), from, '+', 'LIMIT', 0, limit + 1);
    const pipeline = r.pipeline();
    for (const id of ids.slice(0, limit)) pipeline.hgetall(ctx.keys.device(id));
    return { more: ids.length > limit, hashes: await execAll(pipeline.exec()) };
  });
  const devices = found.hashes.map((h) => decodeDevice(h as Record<string, string>)).filter((d) => d !== undefined);
  return { devices, nextCursor: found.more && devices.length > 0 ? encodeCursor(devices.at(-1)!.id) : undefined };
}

export async function countDevices(ctx: RedisContext): Promise<Record<DeviceStatus, number>> {
  const counts = await ctx.run('countDevices', (r) => {
    const multi = r.multi();
    for (const status of deviceStatuses) multi.zcard(ctx.keys.devices(status));
    return execAll(multi.exec());
  });
  return Object.fromEntries(deviceStatuses.map((status, i) => [status, Number(counts[i])])) as Record<DeviceStatus, number>;
}

export async function renewEnrollmentToken(ctx: RedisContext, id: string, token: string, expiresAt: Date, actor: string): Promise<void> {
  assertDeviceId(id);
  assertToken(token);
  assertDate('expiresAt', expiresAt);
  assertText('actor', actor);
  const now = ctx.now();
  const entry = ctx.auditEntry(now, { actor, action: auditActions.renewToken, subject: id });
  await ctx.script('fkRenewToken', [ctx.keys.device(id), ...ctx.auditKeys(id)], [id, hashToken(token), expiresAt.getTime(), now.getTime(), entry]);
}

export async function checkEnrollmentToken(ctx: RedisContext, id: string, token: string): Promise<void> {
  assertEnrollingId(id);
  const [status, tokenHash, expires] = await ctx.run('checkEnrollmentToken', (r) => r.hmget(ctx.keys.device(id), 'status', 'tokenHash', 'tokenExpiresAt'));
  const device = status === null || status === undefined ? undefined : {
    status: status as DeviceStatus,
    tokenHash: tokenHash ?? undefined,
    tokenExpiresAt: expires ? new Date(Number(expires)) : undefined,
  };
  enrollableDevice(id, device, token, ctx.now());
}

export async function enrollDevice(ctx: RedisContext, id: string, token: string, certificate: CertificateRecord, der?: Buffer): Promise<void> {
  assertEnrollingId(id);
  validateCertificate(certificate);
  if (certificate.subject !== id) throw new FleetkeyError('STORE_INPUT_INVALID', `certificate subject ${certificate.subject} is not ${id}`);
  assertCertificateDer(certificate, der);
  if (typeof token !== 'string') throw new FleetkeyError('ENROLLMENT_REFUSED', `${id}: no token`);
  const { keys } = ctx;
  const now = ctx.now();
  const entry = ctx.auditEntry(now, { actor: `device:${id}`, action: auditActions.enroll, subject: id, detail: { serial: certificate.serial } });
  await ctx.scriptPublishing(
    'fkEnroll',
    [keys.device(id), keys.devices('registered'), keys.devices('active'), keys.certificates, keys.certificatesOf(id), keys.expiry, ...ctx.auditKeys(id)],
    [{ type: 'device-changed', deviceId: id, status: 'active' }],
    ([changed]) => [
      id, hashToken(token), now.getTime(), certificate.serial, encodeJson(certificate), certificate.issuedAt.getTime(), certificate.notAfter.getTime(),
      entry, keys.events, changed!, der?.toString('base64') ?? '',
    ],
    { durable: true },
  );
}

export async function enrollmentOf(ctx: RedisContext, id: string, token: string): Promise<Enrollment | undefined> {
  assertEnrollingId(id);
  if (typeof token !== 'string') return undefined;
  const { keys } = ctx;
  const found = await ctx.script('fkEnrolledBy', [keys.device(id), keys.certificates, keys.revocations], [hashToken(token), ctx.now().getTime()]);
  if (!Array.isArray(found)) return undefined;
  const [, json, der] = found as [string, string, string];
  if (json === '') return undefined;
  return { certificate: decodeJson<CertificateRecord>(json), der: der === '' ? undefined : Buffer.from(der, 'base64') };
}

export async function recordEnrollmentRetry(ctx: RedisContext, id: string, token: string, certificate: CertificateRecord): Promise<void> {
  assertEnrollingId(id);
  if (typeof token !== 'string') throw new FleetkeyError('ENROLLMENT_REFUSED', `${id}: no token`);
  assertRetryCertificate(id, certificate, certificate.supersedes ?? '');
  const { keys } = ctx;
  const now = ctx.now();
  const detail = { serial: certificate.serial, supersedes: certificate.supersedes };
  const entry = ctx.auditEntry(now, { actor: `device:${id}`, action: auditActions.enrollRetry, subject: id, detail });
  await ctx.script(
    'fkEnrollRetry',
    [keys.device(id), keys.certificates, keys.certificatesOf(id), keys.expiry, keys.revocations, ...ctx.auditKeys(id)],
    [hashToken(token), now.getTime(), certificate.serial, encodeJson(certificate), certificate.issuedAt.getTime(), certificate.notAfter.getTime(),
      certificate.supersedes!, entry, id],
    { durable: true },
  );
}

/** The receipt fields of a device hash (store/records.ts EnrollmentReceipt), undefined when it has none. */
export function decodeReceipt(h: Record<string, string>): EnrollmentReceipt | undefined {
  if (h.usedTokenHash === undefined || h.usedTokenExpiresAt === undefined || h.enrolledSerial === undefined) return undefined;
  return {
    tokenHash: h.usedTokenHash,
    tokenExpiresAt: new Date(Number(h.usedTokenExpiresAt)),
    serial: h.enrolledSerial,
    der: h.enrolledDer === undefined ? undefined : Buffer.from(h.enrolledDer, 'base64'),
  };
}

/** The hash fields of a receipt, as decodeReceipt reads them. */
export function receiptFields(r: EnrollmentReceipt | undefined): (string | number)[] {
  if (r === undefined) return [];
  const fields: (string | number)[] = ['usedTokenHash', r.tokenHash, 'usedTokenExpiresAt', r.tokenExpiresAt.getTime(), 'enrolledSerial', r.serial];
  if (r.der !== undefined) fields.push('enrolledDer', r.der.toString('base64'));
  return fields;
}

/** A device hash as its record (undefined for a missing hash); the token hash is left out. */
export function decodeDevice(h: Record<string, string>): DeviceRecord | undefined {
  if (h.id === undefined) return undefined;
  return {
    id: h.id,
    status: h.status as DeviceStatus,
    createdAt: new Date(Number(h.createdAt)),
    updatedAt: new Date(Number(h.updatedAt)),
    tokenExpiresAt: optionalDate(h.tokenExpiresAt),
    enrolledAt: optionalDate(h.enrolledAt),
  };
}

function optionalDate(ms: string | undefined): Date | undefined {
  return ms === undefined ? undefined : new Date(Number(ms));
}
