import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { FleetkeyError } from '../errors/index.js';
import type { Store } from './types.js';

export type { Store } from './types.js';

export interface OpenStoreOptions {
  /** Key prefix on Redis, so two fleets can share one server. Ignored by `file:`. */
  readonly prefix?: string;
  readonly logger?: Logger;
  /**
   * Path of the data directory's store identity record, `<dir>/store-identity.json` (store/identity.ts:
   * `IDENTITY_FILE`). With it the store is claimed on first start, and a store that lost its state or
   * belongs to another fleet is refused (STORE_STATE_LOST, STORE_IDENTITY_MISMATCH). Services pass it;
   * without it nothing is claimed or refused at open.
   */
  readonly identity?: string;
  /** Redis: how often the identity marker is read while all is well (default 5000 ms) and while lost (default 1000 ms). */
  readonly identityCheckMs?: number;
  readonly identityRetryMs?: number;
}

/**
 * Opens the store a URL names: `file:<dir>` (the embedded default, `file:./data`; `file:///abs` works too)
 * or `redis://…` / `rediss://…` / `redis+sentinel://…` (store/redis/url.ts). The Redis client is loaded only when asked for.
 */
export async function openStore(url: string, opts: OpenStoreOptions = {}): Promise<Store> {
  if (typeof url === 'string' && url.startsWith('file:')) {
    const { openFileStore } = await import('./file/index.js');
    return openFileStore(fileDir(url), {
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
      ...(opts.identity === undefined ? {} : { identity: opts.identity }),
    });
  }
  if (typeof url === 'string' && /^(rediss?|redis\+sentinel):\/\//.test(url)) {
    const { openRedisStore } = await import('./redis/index.js');
    return openRedisStore(url, opts);
  }
  throw new FleetkeyError('STORE_URL_INVALID', `unsupported store URL ${redact(String(url))}`);
}

function fileDir(url: string): string {
  let dir: string;
  try {
    dir = url.startsWith('file://') ? fileURLToPath(url) : url.slice('file:'.length);
  } catch (err) {
    throw new FleetkeyError('STORE_URL_INVALID', `bad file URL ${url}`, { cause: err });
  }
  if (dir.length === 0) throw new FleetkeyError('STORE_URL_INVALID', 'file: URL names no directory');
  return dir;
}

/** A URL fit for logs: any password removed. */
export function redact(url: string): string {
  return url.replace(/\/\/([^/@]*)@/, (_m, auth: string) => `//${auth.includes(':') ? `${auth.split(':')[0]}:***` : '***'}@`);
}
