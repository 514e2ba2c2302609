import { FleetkeyError } from '../../errors/index.js';
import { assertText, auditActions, decodeJson, encodeJson, isDeviceId, limits, pageLimit, validateApiTokenInput, validateAuditInput } from '../records.js';
import { hashToken } from '../secrets.js';
import type { ApiRole, ApiTokenRecord, AuditEntry, AuditInput, AuditPage } from '../types.js';
import type { RedisContext } from './context.js';

/** Stream ids, which are the audit log's cursors. */
const STREAM_ID = /^\d{1,20}-\d{1,20}$/;

/**
 * API tokens: id → secret hash, and hash → record JSON (a bearer lookup is one GET).
 * Audit: a stream of every entry and one per subject holding the same entries under the same ids.
 */
export const accessScripts = {
  fkCreateApiToken: `
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return refuse('API_TOKEN_EXISTS', ARGV[1]) end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SET', KEYS[2], ARGV[3])
audit(KEYS[3], KEYS[4], ARGV[4])
return 1`,

  fkRevokeApiToken: `
if redis.call('GET', KEYS[1]) ~= ARGV[2] then return refuse('API_TOKEN_NOT_FOUND', ARGV[1]) end
redis.call('DEL', KEYS[1], KEYS[2])
audit(KEYS[3], KEYS[4], ARGV[3])
return 1`,

  fkAppendAudit: `
return audit(KEYS[1], KEYS[2], ARGV[1])`,
};

export async function createApiToken(
  ctx: RedisContext, input: { id: string; secret: string; role: ApiRole; label?: string }, actor: string,
): Promise<ApiTokenRecord> {
  validateApiTokenInput(input);
  assertText('actor', actor);
  const hash = hashToken(input.secret);
  const now = ctx.now();
  const record: ApiTokenRecord = { id: input.id, role: input.role, createdAt: now, label: input.label };
  const entry = ctx.auditEntry(now, { actor, action: auditActions.createApiToken, subject: input.id, detail: { role: input.role } });
  const { keys } = ctx;
  await ctx.script('fkCreateApiToken', [keys.apiTokenById(input.id), keys.apiTokenByHash(hash), ...ctx.auditKeys(input.id)], [
    input.id, hash, encodeJson(record), entry,
  ], { durable: true });
  return record;
}

export async function findApiToken(ctx: RedisContext, secret: string): Promise<ApiTokenRecord | undefined> {
  if (typeof secret !== 'string' || secret.length === 0 || secret.length > limits.tokenMaxLength) return undefined;
  const json = await ctx.run('findApiToken', (r) => r.get(ctx.keys.apiTokenByHash(hashToken(secret))));
  return json === null ? undefined : decodeJson<ApiTokenRecord>(json);
}

export async function revokeApiToken(ctx: RedisContext, id: string, actor: string): Promise<void> {
  assertText('actor', actor);
  if (!isDeviceId(id)) throw new FleetkeyError('API_TOKEN_NOT_FOUND', String(id).slice(0, 80));
  const { keys } = ctx;
  const hash = await ctx.run('revokeApiToken', (r) => r.get(keys.apiTokenById(id)));
  if (hash === null) throw new FleetkeyError('API_TOKEN_NOT_FOUND', id);
  const entry = ctx.auditEntry(ctx.now(), { actor, action: auditActions.revokeApiToken, subject: id });
  await ctx.script('fkRevokeApiToken', [keys.apiTokenById(id), keys.apiTokenByHash(hash), ...ctx.auditKeys(id)], [id, hash, entry], { durable: true });
}

export async function appendAudit(ctx: RedisContext, input: AuditInput): Promise<AuditEntry> {
  validateAuditInput(input);
  const time = ctx.now();
  const id = await ctx.script('fkAppendAudit', ctx.auditKeys(input.subject), [ctx.auditEntry(time, input)]);
  const { actor, action, subject, detail } = input;
  return { id: String(id), time, actor, action, subject, ...(detail === undefined ? {} : { detail }) };
}

/** Entries after `cursor` (an entry id), oldest first. */
export async function readAudit(ctx: RedisContext, query: { cursor?: string; limit?: number; subject?: string }): Promise<AuditPage> {
  const limit = pageLimit(query.limit);
  if (query.subject !== undefined) assertText('subject', query.subject);
  if (query.cursor !== undefined && !(typeof query.cursor === 'string' && STREAM_ID.test(query.cursor))) {
    throw new FleetkeyError('CURSOR_INVALID', String(query.cursor).slice(0, 80));
  }
  const start = query.cursor === undefined ? '-' : `(${query.cursor}`;
  const found = await ctx.run('readAudit', (r) => r.xrange(ctx.keys.audit(query.subject), start, '+', 'COUNT', limit + 1));
  const entries = found.slice(0, limit).map(([id, fields]) => ({ id, ...decodeJson<Omit<AuditEntry, 'id'>>(fields[1]!) }));
  return { entries, nextCursor: found.length > limit ? entries.at(-1)!.id : undefined };
}
