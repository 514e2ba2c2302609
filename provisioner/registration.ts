import { randomBytes } from 'node:crypto';
import { FleetkeyError } from '../errors/index.js';
import type { NewDevice } from '../store/types.js';

/** Most devices one registration request may name (the store's batch limit). */
export const REGISTER_MAX = 10_000;

/** The body of `POST /v1/devices`: exactly one of `id`, `ids`, or `count` (+ `prefix`, `start`). */
export interface RegisterBody {
  readonly id?: string;
  readonly ids?: string[];
  readonly count?: number;
  readonly prefix?: string;
  /** First number of a `count` batch. Default 1. */
  readonly start?: number;
}

export const registerBodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    id: { type: 'string', maxLength: 64 },
    ids: { type: 'array', items: { type: 'string', maxLength: 64 }, minItems: 1, maxItems: REGISTER_MAX },
    count: { type: 'integer', minimum: 1, maximum: REGISTER_MAX },
    prefix: { type: 'string', minLength: 1, maxLength: 56 },
    start: { type: 'integer', minimum: 0, maximum: 1_000_000_000 },
  },
} as const;

/** 24 random bytes, base64url: 32 characters, 192 bits. Shown once; the store keeps only its hash. */
export function newEnrollmentToken(): string {
  return randomBytes(24).toString('base64url');
}

/**
 * The ids a registration names. A `count` batch is `<prefix><n>` for n = start … start+count-1,
 * zero-padded to at least 4 digits: `--count 3 --prefix line7-` → line7-0001, line7-0002, line7-0003.
 * Ids are checked by the store (DEVICE_ID_INVALID, DEVICE_EXISTS), all or nothing.
 */
export function registrationIds(body: RegisterBody): string[] {
  const forms = [body.id !== undefined, body.ids !== undefined, body.count !== undefined].filter(Boolean).length;
  if (forms !== 1) throw new FleetkeyError('REQUEST_INVALID', 'give exactly one of id, ids, count');
  if (body.id !== undefined) return [body.id];
  if (body.ids !== undefined) return body.ids;
  if (body.prefix === undefined) throw new FleetkeyError('REQUEST_INVALID', 'count needs a prefix');
  const start = body.start ?? 1;
  const width = Math.max(4, String(start + body.count! - 1).length);
  return Array.from({ length: body.count! }, (_, i) => `${body.prefix}${String(start + i).padStart(width, '0')}`);
}

/** New registrations with fresh one-time tokens that stop working after `ttlSeconds`. */
export function newDevices(ids: readonly string[], ttlSeconds: number, now = Date.now()): NewDevice[] {
  const tokenExpiresAt = new Date(now + ttlSeconds * 1000);
  return ids.map((id) => ({ id, token: newEnrollmentToken(), tokenExpiresAt }));
}
