import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { pino, type Logger } from 'pino';
import { FleetkeyError } from '../../errors/index.js';
import type { Store } from '../types.js';
import { checkIdentityAtOpen } from '../identity.js';
import { fileIdentityBackend } from './identity.js';
import { Journal } from './journal.js';
import { loadState } from './load.js';
import { acquireLock } from './lock.js';
import { FileStore } from './store.js';

export interface FileStoreOptions {
  readonly logger?: Logger;
  /** Compact the journal into a snapshot once it reaches this many bytes (default 64 MiB). */
  readonly compactBytes?: number;
  /** Path of the data directory's store identity record (store/index.ts: `OpenStoreOptions.identity`). */
  readonly identity?: string;
}

const DEFAULT_COMPACT_BYTES = 64 * 1024 * 1024;

/** Opens (creating if need be) the embedded store in `dir`, owned by this process until `close()`. */
export async function openFileStore(dir: string, opts: FileStoreOptions = {}): Promise<Store> {
  const logger = (opts.logger ?? pino({ level: 'silent' })).child({ component: 'store', store: `file:${dir}` });
  const path = resolve(dir);
  const releaseLock = unavailableUnlessCoded(() => {
    prepareDir(path, logger);
    return acquireLock(path);
  });
  try {
    const { state, gen, journalBytes } = loadState(path, logger);
    const journal = await Journal.open({
      dir: path,
      gen,
      bytes: journalBytes,
      compactBytes: opts.compactBytes ?? DEFAULT_COMPACT_BYTES,
      snapshot: () => state.toOps(),
      logger,
    });
    try {
      await checkIdentityAtOpen(fileIdentityBackend(state, journal), opts.identity, `file:${dir}`, logger);
    } catch (err) {
      await journal.close().catch(() => undefined);
      throw err;
    }
    logger.info({ event: 'store-opened', devices: state.devices.size, journalBytes, gen, storeId: state.identity?.id }, 'file store opened');
    return new FileStore(`file:${dir}`, state, journal, releaseLock, logger);
  } catch (err) {
    releaseLock();
    return unavailableUnlessCoded(() => {
      throw err;
    });
  }
}

/** File system failures (permissions, a full disk) become STORE_UNAVAILABLE; coded refusals pass through. */
function unavailableUnlessCoded<T>(work: () => T): T {
  try {
    return work();
  } catch (err) {
    if (err instanceof FleetkeyError) throw err;
    throw new FleetkeyError('STORE_UNAVAILABLE', `cannot open the store: ${(err as Error).message}`, { cause: err });
  }
}

/** The directory holds secrets' hashes and sealed keys: 0700, tightened if it was looser. */
function prepareDir(path: string, logger: Logger): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const mode = statSync(path).mode & 0o777;
  if ((mode & 0o077) !== 0) {
    chmodSync(path, 0o700);
    logger.warn({ event: 'store-dir-tightened', path, was: mode.toString(8) }, 'store directory was readable by others; set to 0700');
  }
}
