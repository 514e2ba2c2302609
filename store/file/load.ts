import { closeSync, existsSync, fsyncSync, openSync, readFileSync, rmSync, ftruncateSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FleetkeyError } from '../../errors/index.js';
import { encodeJournalHeader, files, parse, readSnapshot, writeFileAtomicSync, type JournalHeader } from './disk.js';
import { decodeFrames, isTornTail } from './frames.js';
import { State, type Op } from './state.js';

export interface Loaded {
  readonly state: State;
  readonly gen: number;
  readonly journalBytes: number;
}

/**
 * Rebuilds the state from the snapshot and the journal that follows it. Each journal frame is one group
 * commit, fsynced before the next is written, so a crash can only damage the last frame: a torn tail
 * held no acknowledged write and is cut off. Damage anywhere else, a whole frame that does not parse,
 * or a snapshot that is not whole, is STORE_CORRUPT: acknowledged data is never dropped silently.
 */
export function loadState(dir: string, logger: Logger): Loaded {
  const state = new State();
  for (const tmp of [files.snapshot, files.journal]) rmSync(join(dir, `${tmp}.tmp`), { force: true });

  const snapshotPath = join(dir, files.snapshot);
  let gen = 0;
  if (existsSync(snapshotPath)) {
    const snapshot = readSnapshot(snapshotPath, readFileSync(snapshotPath));
    gen = snapshot.gen;
    applyAll(state, snapshot.ops, snapshotPath);
  }

  const journalPath = join(dir, files.journal);
  const bytes = existsSync(journalPath) ? readFileSync(journalPath) : Buffer.alloc(0);
  const { payloads, validBytes } = decodeFrames(bytes);
  const header = payloads[0] === undefined ? undefined : parse<JournalHeader>(payloads[0]);
  if (header === undefined || header.journal !== 1 || header.gen < gen) {
    // The header is renamed into place with the file, so a journal without one is empty or damaged.
    if (bytes.length > 0 && (header?.journal !== 1)) throw new FleetkeyError('STORE_CORRUPT', `${journalPath}: no journal header`);
    const fresh = encodeJournalHeader(gen);
    writeFileAtomicSync(dir, files.journal, fresh);
    return { state, gen, journalBytes: fresh.length };
  }
  if (header.gen > gen) throw new FleetkeyError('STORE_CORRUPT', `${journalPath}: follows snapshot ${header.gen}, found ${gen}`);

  for (const payload of payloads.slice(1)) {
    const batch = parse<Op[][]>(payload);
    if (!Array.isArray(batch)) throw new FleetkeyError('STORE_CORRUPT', `${journalPath}: unreadable record`);
    for (const ops of batch) applyAll(state, ops, journalPath);
  }
  if (validBytes < bytes.length) {
    if (!isTornTail(bytes, validBytes)) throw new FleetkeyError('STORE_CORRUPT', `${journalPath}: damaged record at byte ${validBytes}`);
    logger.warn({ event: 'store-journal-truncated', discardedBytes: bytes.length - validBytes }, 'discarding an incomplete journal tail left by a crash');
    truncate(journalPath, validBytes);
  }
  return { state, gen, journalBytes: validBytes };
}

function applyAll(state: State, ops: Op[], path: string): void {
  try {
    for (const op of ops) state.apply(op);
  } catch (err) {
    throw new FleetkeyError('STORE_CORRUPT', `${path}: record does not apply`, { cause: err });
  }
}

function truncate(path: string, length: number): void {
  const fd = openSync(path, 'r+');
  try {
    ftruncateSync(fd, length);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
