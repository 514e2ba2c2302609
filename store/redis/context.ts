import type { Redis } from 'ioredis';
import { FleetkeyError, isFleetkeyError } from '../../errors/index.js';
import { encodeJson } from '../records.js';
import type { AuditInput, StoreEvent } from '../types.js';
import { attempt } from './connection.js';
import type { RedisEvents } from './events.js';
import type { IdentityWatch } from './identity.js';
import type { Keys } from './keys.js';
import type { Durability } from './durability.js';

export type ScriptArg = string | number | Buffer;
/** ioredis flattens array arguments, which keeps batches of 100,000 off the call stack. */
type ScriptFn = (numberOfKeys: number, keys: readonly string[], args: readonly ScriptArg[]) => Promise<unknown>;

export interface ScriptOptions {
  /**
   * A write that must never be lost (a consumed token, a revocation, a new epoch, an API token):
   * on a replicated Redis it is followed by `WAIT 1`, and one no replica acknowledged is logged
   * (`store-write-unreplicated`) and counted. It is reported applied either way.
   */
  readonly durable?: boolean;
}

/**
 * Lua shared by the scripts that write: `audit(stream, subjectStream, entry)` appends an entry to the
 * log and to its subject's log under the same id; `refuse(code, detail)` is a FleetkeyError by code.
 */
const PRELUDE = `
local function audit(stream, subjectStream, entry)
  local id = redis.call('XADD', stream, '*', 'e', entry)
  redis.call('XADD', subjectStream, id, 'e', entry)
  return id
end
local function refuse(code, detail)
  return redis.error_reply('FK:' .. code .. ' ' .. (detail or ''))
end
-- A device's serials as the caller read them: still \`count\` of them, and none of the serials in
-- ARGV[from], ARGV[from + 2], … revoked since.
local function heldUnchanged(certificatesOf, revocations, count, from)
  if redis.call('ZCARD', certificatesOf) ~= tonumber(count) then return false end
  for i = from, #ARGV, 2 do
    if redis.call('HEXISTS', revocations, ARGV[i]) == 1 then return false end
  end
  return true
end
-- Records the revocations ARGV[from] = serial, ARGV[from + 1] = its record, … and drops them from expiry.
local function revokeHeld(revocations, expiry, from)
  for i = from, #ARGV, 2 do
    redis.call('HSET', revocations, ARGV[i], ARGV[i + 1])
    redis.call('ZREM', expiry, ARGV[i])
  end
end
`;

/** What the operation modules of the Redis store work with. */
export class RedisContext {
  private closed = false;

  constructor(
    readonly redis: Redis,
    readonly keys: Keys,
    readonly url: string,
    private readonly events: RedisEvents,
    /** Refuses every operation while the store's identity is unverified or lost (store/redis/identity.ts). */
    readonly watch?: IdentityWatch,
    readonly durability?: Durability,
  ) {}

  now(): Date {
    return new Date();
  }

  /** Registers scripts as ioredis commands (EVALSHA, falling back to EVAL once per connection). */
  /** `guard`: Lua run first in every script (the identity marker check, store/redis/identity.ts). */
  defineScripts(scripts: Readonly<Record<string, string>>, guard = ''): void {
    for (const [name, lua] of Object.entries(scripts)) this.redis.defineCommand(name, { lua: PRELUDE + guard + lua });
  }

  /** Runs a script defined with `defineScripts`; its `FK:<CODE>` refusals become FleetkeyErrors. */
  async script(name: string, keys: readonly string[], args: readonly ScriptArg[], opts: ScriptOptions = {}): Promise<unknown> {
    const fn = (this.redis as unknown as Record<string, ScriptFn | undefined>)[name];
    if (fn === undefined) throw new FleetkeyError('INTERNAL', `no script ${name}`);
    const result = await this.run(name, () => fn.call(this.redis, keys.length, keys, args));
    if (opts.durable === true && result !== 0) await this.durability?.replicate(name);
    return result;
  }

  /**
   * Runs a script that publishes `events` with its change (`args` gets their messages). Unless the
   * script answers 0 (nothing changed), resolves once this process's handlers have seen the events.
   */
  async scriptPublishing(
    name: string, keys: readonly string[], events: readonly StoreEvent[], args: (messages: string[]) => ScriptArg[], opts: ScriptOptions = {},
  ): Promise<unknown> {
    const out = this.events.outgoing(events);
    let result: unknown;
    try {
      result = await this.script(name, keys, args(out.messages), opts);
    } catch (err) {
      out.cancel();
      throw err;
    }
    if (result === 0) out.cancel();
    else await out.delivered();
    return result;
  }

  /** Runs Redis work on an open store; every failure comes out as a FleetkeyError. */
  async run<T>(what: string, work: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.closed) throw new FleetkeyError('STORE_UNAVAILABLE', `${this.url} is closed`);
    const refusal = this.watch?.refusal();
    if (refusal !== undefined) throw refusal;
    try {
      return await attempt(what, () => work(this.redis));
    } catch (err) {
      if (isFleetkeyError(err, 'STORE_STATE_LOST')) this.watch?.noticeLost();
      throw err;
    }
  }

  close(): void {
    this.closed = true;
    this.watch?.close();
  }

  /** The stored form of an audit entry (its id is the stream's). */
  auditEntry(time: Date, input: AuditInput): string {
    const { actor, action, subject, detail } = input;
    return encodeJson({ time, actor, action, subject, ...(detail === undefined ? {} : { detail }) });
  }

  /** The two audit streams an entry about `subject` goes to. */
  auditKeys(subject: string): [string, string] {
    return [this.keys.audit(), this.keys.audit(subject)];
  }
}

/** Results of a pipeline or MULTI, failing on the first command that failed. */
export async function execAll(results: Promise<[Error | null, unknown][] | null>): Promise<unknown[]> {
  const settled = await results;
  if (settled === null) throw new FleetkeyError('STORE_UNAVAILABLE', 'transaction aborted');
  return settled.map(([err, value]) => {
    if (err !== null) throw err;
    return value;
  });
}
