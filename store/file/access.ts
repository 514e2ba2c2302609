import { FleetkeyError } from '../../errors/index.js';
import { assertText, auditActions, isDeviceId, limits, pageLimit, validateApiTokenInput, validateAuditInput } from '../records.js';
import { hashToken } from '../secrets.js';
import type { ApiRole, ApiTokenRecord, AuditEntry, AuditInput, AuditPage } from '../types.js';
import { auditEntries, type FileContext } from './context.js';
import { auditSeq } from './state.js';

export async function createApiToken(
  ctx: FileContext, input: { id: string; secret: string; role: ApiRole; label?: string }, actor: string,
): Promise<ApiTokenRecord> {
  validateApiTokenInput(input);
  assertText('actor', actor);
  const hash = hashToken(input.secret);
  if (ctx.state.apiTokens.has(input.id) || ctx.state.apiTokenIdByHash.has(hash)) throw new FleetkeyError('API_TOKEN_EXISTS', input.id);
  const now = ctx.now();
  const record: ApiTokenRecord = { id: input.id, role: input.role, createdAt: now, label: input.label };
  const audit = auditEntries(ctx.state, now, [{ actor, action: auditActions.createApiToken, subject: input.id, detail: { role: input.role } }]);
  await ctx.commit([{ t: 'api-token', r: record, hash }, { t: 'audit', a: audit }]);
  return record;
}

export function findApiToken(ctx: FileContext, secret: string): Promise<ApiTokenRecord | undefined> {
  if (typeof secret !== 'string' || secret.length === 0 || secret.length > limits.tokenMaxLength) return ctx.settle(undefined);
  const id = ctx.state.apiTokenIdByHash.get(hashToken(secret));
  return ctx.settle(id === undefined ? undefined : ctx.state.apiTokens.get(id)?.record);
}

export async function revokeApiToken(ctx: FileContext, id: string, actor: string): Promise<void> {
  assertText('actor', actor);
  if (!isDeviceId(id) || !ctx.state.apiTokens.has(id)) throw new FleetkeyError('API_TOKEN_NOT_FOUND', String(id).slice(0, 80));
  const audit = auditEntries(ctx.state, ctx.now(), [{ actor, action: auditActions.revokeApiToken, subject: id }]);
  await ctx.commit([{ t: 'api-token-del', id }, { t: 'audit', a: audit }]);
}

export async function appendAudit(ctx: FileContext, input: AuditInput): Promise<AuditEntry> {
  validateAuditInput(input);
  const [entry] = auditEntries(ctx.state, ctx.now(), [input]);
  await ctx.commit([{ t: 'audit', a: [entry!] }]);
  return entry!;
}

/** Entries after `cursor` (an entry id), oldest first. */
export function readAudit(ctx: FileContext, query: { cursor?: string; limit?: number; subject?: string }): Promise<AuditPage> {
  const limit = pageLimit(query.limit);
  if (query.subject !== undefined) assertText('subject', query.subject);
  if (query.cursor !== undefined && !/^\d{16}$/.test(query.cursor)) throw new FleetkeyError('CURSOR_INVALID', query.cursor.slice(0, 80));
  const log = ctx.state.audit;
  const entries: AuditEntry[] = [];
  let more = false;
  for (let i = query.cursor === undefined ? 0 : auditSeq(query.cursor); i < log.length; i += 1) {
    const entry = log[i]!;
    if (query.subject !== undefined && entry.subject !== query.subject) continue;
    if (entries.length === limit) {
      more = true;
      break;
    }
    entries.push(entry);
  }
  return ctx.settle({ entries, nextCursor: more ? entries.at(-1)!.id : undefined });
}
