import { closeSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { FleetkeyError } from '../../errors/index.js';
import { decodeJson, encodeJson } from '../records.js';
import { decodeFrames, encodeFrame } from './frames.js';
import type { Op } from './state.js';

/** File names inside a `file:` store's directory; every file is 0600. */
export const files = {
  lock: 'store.lock',
  snapshot: 'store.snapshot',
  journal: 'store.journal',
} as const;

export const FILE_MODE = 0o600;

/** First frame of a journal: the snapshot generation its ops follow. */
export interface JournalHeader {
  readonly journal: 1;
  readonly gen: number;
}

interface SnapshotBody {
  readonly snapshot: 1;
  readonly gen: number;
  readonly ops: Op[];
}

export function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Writes `name` so that a crash leaves the old file or the new one: temp file, fsync, rename, fsync dir. */
export async function writeFileAtomic(dir: string, name: string, data: Buffer): Promise<void> {
  const tmp = join(dir, `${name}.tmp`);
  const handle = await open(tmp, 'w', FILE_MODE);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, join(dir, name));
  fsyncDir(dir);
}

export function writeFileAtomicSync(dir: string, name: string, data: Buffer): void {
  const tmp = join(dir, `${name}.tmp`);
  const fd = openSync(tmp, 'w', FILE_MODE);
  try {
    writeSync(fd, data);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, join(dir, name));
  fsyncDir(dir);
}

export function encodeSnapshot(gen: number, ops: Op[]): Buffer {
  return encodeFrame(Buffer.from(encodeJson({ snapshot: 1, gen, ops } satisfies SnapshotBody)));
}

export function encodeJournalHeader(gen: number): Buffer {
  return encodeFrame(Buffer.from(JSON.stringify({ journal: 1, gen } satisfies JournalHeader)));
}

/** The snapshot written by the last compaction; it was renamed into place whole, so any damage is corruption. */
export function readSnapshot(path: string, bytes: Buffer): { gen: number; ops: Op[] } {
  const { payloads, validBytes } = decodeFrames(bytes);
  const body = payloads.length === 1 && validBytes === bytes.length ? parse<SnapshotBody>(payloads[0]!) : undefined;
  if (body?.snapshot !== 1 || !Number.isSafeInteger(body.gen) || !Array.isArray(body.ops)) {
    throw new FleetkeyError('STORE_CORRUPT', `${path}: not a whole fleetkey snapshot`);
  }
  return { gen: body.gen, ops: body.ops };
}

export function parse<T>(payload: Buffer): T | undefined {
  try {
    return decodeJson<T>(payload.toString('utf8'));
  } catch {
    return undefined;
  }
}
