import type { ChainableCommander, Redis } from 'ioredis';
import { FleetkeyError } from '../../errors/index.js';
import { chunkPairs, type BackupRecord, type StoreSnapshot } from '../backup-records.js';
import type { StoreIdentity } from '../identity.js';
import { decodeJson, encodeJson, type StoredDevice } from '../records.js';
import { decodeDevice, decodeReceipt, receiptFields } from './devices.js';
import type { ApiTokenRecord, AuditEntry, CertificateRecord, EpochRecord, RevocationRecord } from '../types.js';
import { attempt } from './connection.js';
import { execAll, type RedisContext } from './context.js';
import { firstStateKey, isStateKey, markerKey, prefixPattern, readMarker, writeMarker } from './identity.js';
import type { Keys } from './keys.js';

/** Commands per pipeline of an import. */
const IMPORT_BATCH = 1000;

/**
 * The export is one script, so it is one instant of the store (Redis runs a script alone): it reads
 * the indexes (devices, epochs, API tokens) and every key they name. It holds Redis for as long as it
 * reads: about a millisecond per thousand devices. Keys are built from the stems Keys gives.
 * KEYS: devices, certs, revoked, revocation-seq, crl-number, epochs, epoch-secrets, audit.
 * ARGV: stems of device:, grants:, acks:, api-token-hash:, and the pattern of api-token: keys.
 */
const EXPORT = `
local devices = {}
for i, id in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do devices[i] = redis.call('HGETALL', ARGV[1] .. id) end
local counters = {}
for i, e in ipairs(redis.call('HKEYS', KEYS[6])) do
  counters[i] = { e, redis.call('HGETALL', ARGV[2] .. e), redis.call('HGETALL', ARGV[3] .. e) }
end
local tokens = {}
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', ARGV[5], 'COUNT', 1000)
  cursor = page[1]
  for _, k in ipairs(page[2]) do
    local hash = redis.call('GET', k)
    local record = hash and redis.call('GET', ARGV[4] .. hash)
    if record then tokens[#tokens + 1] = { hash, record } end
  end
until cursor == '0'
return { devices, redis.call('HGETALL', KEYS[2]), redis.call('HGETALL', KEYS[3]), redis.call('GET', KEYS[4]) or '0',
  redis.call('GET', KEYS[5]) or '0', redis.call('HGETALL', KEYS[6]), redis.call('HGETALL', KEYS[7]), counters, tokens,
  redis.call('XRANGE', KEYS[8], '-', '+') }`;

type Flat = Buffer[];

export async function exportRedisState(ctx: RedisContext): Promise<StoreSnapshot> {
  const { keys } = ctx;
  const stem = (full: string, tail: string) => full.slice(0, full.length - tail.length);
  const reply = await ctx.run('exportState', (r) => r.callBuffer('EVAL', EXPORT, 8,
    keys.devices(), keys.certificates, keys.revocations, keys.revocationSeq, keys.crlNumber, keys.epochs, keys.epochSecrets, keys.audit(),
    keys.device(''), stem(keys.grants(1), '1'), stem(keys.acks(1), '1'), keys.apiTokenByHash(''), prefixPattern(keys.apiTokenById('')),
  )) as unknown[];
  const [devices, certs, revoked, seq, crl, epochRecords, sealed, counters, tokens, audit] = reply as [
    Flat[], Flat, Flat, Buffer, Buffer, Flat, Flat, [Buffer, Flat, Flat][], [Buffer, Buffer][], [Buffer, Flat][],
  ];
  const records: BackupRecord[] = [];
  for (const flat of devices) {
    const d = decodeStoredDevice(textHash(flat));
    if (d !== undefined) records.push({ t: 'device', d });
  }
  for (const json of Object.values(textHash(certs))) records.push({ t: 'cert', c: decodeJson<CertificateRecord>(json) });
  for (const json of Object.values(textHash(revoked))) records.push({ t: 'revocation', r: decodeJson<RevocationRecord>(json) });
  records.push({ t: 'revocation-seq', n: Number(seq.toString()) }, { t: 'crl', n: BigInt(crl.toString()) });
  const secrets = new Map<string, Buffer>();
  for (let i = 0; i < sealed.length; i += 2) secrets.set(sealed[i]!.toString(), sealed[i + 1]!);
  for (const [e, json] of Object.entries(textHash(epochRecords))) {
    const s = secrets.get(e);
    const epoch = decodeJson<EpochRecord>(json);
    records.push(s === undefined ? { t: 'epoch', e: epoch } : { t: 'epoch', e: epoch, sealed: s });
  }
  for (const [e, grants, acks] of counters) {
    for (const g of chunkPairs(numberPairs(textHash(grants)))) records.push({ t: 'grants', e: Number(e.toString()), g });
    for (const a of chunkPairs(numberPairs(textHash(acks)))) records.push({ t: 'acks', e: Number(e.toString()), a });
  }
  for (const [hash, json] of tokens) records.push({ t: 'api-token', r: decodeJson<ApiTokenRecord>(json.toString()), hash: hash.toString() });
  for (const [id, fields] of audit) records.push({ t: 'audit', a: { id: id.toString(), ...decodeJson<Omit<AuditEntry, 'id'>>(fields[1]!.toString()) } });
  return { identity: await ctx.run('exportState', (r) => readMarker(r, keys.prefix)), records };
}

function textHash(flat: Flat): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!.toString()] = flat[i + 1]!.toString();
  return out;
}

/** Sorted by device id, the order Redis reads give. */
function numberPairs(h: Record<string, string>): [string, number][] {
  return Object.entries(h).map(([k, v]): [string, number] => [k, Number(v)]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

function decodeStoredDevice(h: Record<string, string>): StoredDevice | undefined {
  const device = decodeDevice(h);
  const enrollment = decodeReceipt(h);
  return device && { ...device, tokenHash: h.tokenHash, ...(enrollment === undefined ? {} : { enrollment }) };
}

/**
 * Restore: the marker goes first (every process on the store then refuses everything), then the old
 * state (with `force`), then the snapshot in pipelines, then the marker with `identity`. A restore cut
 * short leaves a store without a marker: refused by every service, and restored again.
 */
export async function importRedisState(ctx: RedisContext, snapshot: StoreSnapshot, identity: StoreIdentity, force: boolean): Promise<void> {
  const { keys } = ctx;
  const r = ctx.redis;
  await attempt('importState', async () => {
    const existing = await firstStateKey(r, keys.prefix);
    if (existing !== undefined && !force) throw new FleetkeyError('STORE_NOT_EMPTY', `the store holds ${existing}`);
    await r.del(markerKey(keys.prefix));
    await deleteState(r, keys.prefix);
    await writeRecords(r, keys, snapshot.records);
    await writeMarker(r, keys.prefix, identity);
  });
  await ctx.durability?.replicate('importState');
  ctx.watch?.adopt(identity);
}

async function deleteState(r: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, found] = await r.scan(cursor, 'MATCH', prefixPattern(prefix), 'COUNT', 1000);
    const doomed = found.filter((k) => isStateKey(prefix, k));
    if (doomed.length > 0) await r.unlink(...doomed);
    cursor = next;
  } while (cursor !== '0');
}

const AUDIT = `
local id = redis.call('XADD', KEYS[1], ARGV[1], 'e', ARGV[2])
redis.call('XADD', KEYS[2], id, 'e', ARGV[2])
return id`;

/** The keys each record lives in, as the operation modules write them (devices.ts, certificates.ts, epochs.ts, access.ts). */
async function writeRecords(r: Redis, keys: Keys, records: readonly BackupRecord[]): Promise<void> {
  const revoked = new Set(records.flatMap((x) => (x.t === 'revocation' ? [x.r.serial] : [])));
  let current = 0;
  let pipeline = r.pipeline();
  let queued = 0;
  const flush = async (): Promise<void> => {
    if (queued === 0) return;
    await execAll(pipeline.exec());
    pipeline = r.pipeline();
    queued = 0;
  };
  for (const x of records) {
    queued += writeRecord(pipeline, keys, x, revoked);
    if (x.t === 'epoch') current = Math.max(current, x.e.epoch);
    if (queued >= IMPORT_BATCH) await flush();
  }
  if (current > 0) pipeline.set(keys.currentEpoch, current);
  queued += 1;
  await flush();
}

function writeRecord(p: ChainableCommander, keys: Keys, x: BackupRecord, revoked: ReadonlySet<string>): number {
  switch (x.t) {
    case 'device': {
      const d = x.d;
      const fields: (string | number)[] = ['id', d.id, 'status', d.status, 'createdAt', d.createdAt.getTime(), 'updatedAt', d.updatedAt.getTime()];
      if (d.enrolledAt !== undefined) fields.push('enrolledAt', d.enrolledAt.getTime());
      if (d.tokenHash !== undefined) fields.push('tokenHash', d.tokenHash);
      if (d.tokenExpiresAt !== undefined) fields.push('tokenExpiresAt', d.tokenExpiresAt.getTime());
      fields.push(...receiptFields(d.enrollment));
      p.hset(keys.device(d.id), ...fields).zadd(keys.devices(), 0, d.id).zadd(keys.devices(d.status), 0, d.id);
      return 3;
    }
    case 'cert':
      p.hset(keys.certificates, x.c.serial, encodeJson(x.c)).zadd(keys.certificatesOf(x.c.subject), x.c.issuedAt.getTime(), x.c.serial);
      if (!revoked.has(x.c.serial)) p.zadd(keys.expiry, x.c.notAfter.getTime(), x.c.serial);
      return 3;
    case 'revocation':
      p.hset(keys.revocations, x.r.serial, encodeJson(x.r));
      return 1;
    case 'revocation-seq':
      p.set(keys.revocationSeq, x.n);
      return 1;
    case 'crl':
      p.set(keys.crlNumber, x.n.toString());
      return 1;
    case 'epoch':
      p.hset(keys.epochs, String(x.e.epoch), encodeJson(x.e));
      if (x.sealed !== undefined) p.hset(keys.epochSecrets, String(x.e.epoch), x.sealed);
      return 2;
    case 'grants':
      if (x.g.length > 0) p.hset(keys.grants(x.e), ...x.g.flat());
      return 1;
    case 'acks':
      if (x.a.length > 0) p.hset(keys.acks(x.e), ...x.a.flat());
      return 1;
    case 'api-token':
      p.set(keys.apiTokenById(x.r.id), x.hash).set(keys.apiTokenByHash(x.hash), encodeJson(x.r));
      return 2;
    case 'audit': {
      const { id, time, actor, action, subject, detail } = x.a;
      const entry = encodeJson({ time, actor, action, subject, ...(detail === undefined ? {} : { detail }) });
      // Stream ids are kept; a `file:` backup's sequence numbers are not stream ids and get new ones.
      p.eval(AUDIT, 2, keys.audit(), keys.audit(subject), /^\d+-\d+$/.test(id) ? id : '*', entry);
      return 1;
    }
  }
}
