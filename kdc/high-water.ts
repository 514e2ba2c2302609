import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { FleetkeyError } from '../errors/index.js';
import type { EpochRecord } from '../store/types.js';

/** The newest epoch this KDC has used, as the store created it. */
export interface EpochMark {
  readonly epoch: number;
  /** The store's `createdAt` of that epoch, in ms: the same number with another time is another epoch. */
  readonly createdAt: number;
}

/**
 * The KDC's epoch high-water mark on its own disk (docs/kdc.md "Epoch numbers never go back"): written
 * and fsynced before an epoch is used in any way (a grant published, a request answered), so that
 * a store that lost acknowledged writes (Redis with `appendfsync everysec` killed, or restored from an
 * older copy) is recognised as behind, and no number at or below the mark is ever created again.
 * Written as a temp file, fsynced, renamed over the old one, and the directory fsynced.
 */
export class EpochHighWater {
  #mark: EpochMark | undefined;

  private constructor(private readonly file: string | undefined, mark: EpochMark | undefined) {
    this.#mark = mark;
  }

  /** Reads `file` (absent: no mark yet); undefined `file` keeps the mark in memory only. */
  static open(file: string | undefined): EpochHighWater {
    if (file === undefined) return new EpochHighWater(undefined, undefined);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return new EpochHighWater(file, undefined);
      throw new FleetkeyError('CONFIG_INVALID', `${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err });
    }
    const parsed = JSON.parse(text) as Partial<{ epoch: unknown; createdAt: unknown }>;
    const createdAt = typeof parsed.createdAt === 'string' ? Date.parse(parsed.createdAt) : NaN;
    if (!Number.isSafeInteger(parsed.epoch) || (parsed.epoch as number) < 1 || !Number.isFinite(createdAt)) {
      throw new FleetkeyError('CONFIG_INVALID', `${file}: not an epoch high-water mark`);
    }
    return new EpochHighWater(file, { epoch: parsed.epoch as number, createdAt });
  }

  get mark(): EpochMark | undefined {
    return this.#mark;
  }

  /** Whether `record` is the epoch of the mark or a newer one (never an older or a different one). */
  covers(record: EpochRecord): boolean {
    return !this.#mark || record.epoch > this.#mark.epoch || (record.epoch === this.#mark.epoch && record.createdAt.getTime() === this.#mark.createdAt);
  }

  /** Raises the mark to `record` (durably) if it is newer; an older record leaves it as it is. */
  raise(record: EpochRecord): void {
    if (this.#mark && record.epoch <= this.#mark.epoch) return;
    const mark = { epoch: record.epoch, createdAt: record.createdAt.getTime() };
    if (this.file !== undefined) writeDurably(this.file, JSON.stringify({ epoch: mark.epoch, createdAt: record.createdAt.toISOString() }) + '\n');
    this.#mark = mark;
  }
}

function writeDurably(file: string, text: string): void {
  const dir = dirname(file);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = `${file}.tmp`;
  const fd = openSync(temp, 'w', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, file);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
