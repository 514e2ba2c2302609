import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { FleetkeyError } from '../../errors/index.js';
import { encodeJournalHeader, encodeSnapshot, FILE_MODE, files, writeFileAtomic } from './disk.js';
import { encodeFrame } from './frames.js';
import type { Op } from './state.js';

export interface JournalOptions {
  readonly dir: string;
  /** Generation of the snapshot the open journal follows. */
  readonly gen: number;
  /** Bytes in the journal now. */
  readonly bytes: number;
  /** Compact into a snapshot once the journal is this long. */
  readonly compactBytes: number;
  /** Every op that rebuilds the current in-memory state (called synchronously when compacting). */
  readonly snapshot: () => Op[];
  readonly logger: Logger;
}

/**
 * Append-only, and every write durable when it returns (O_DSYNC): one system call per group commit
 * where write + fdatasync took two trips through libuv's pool. A platform without O_DSYNC (Windows)
 * gets the fdatasync after each write instead.
 */
const DSYNC: number | undefined = constants.O_DSYNC;
const JOURNAL_FLAGS = constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | (DSYNC ?? 0);

interface Waiter {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * The append-only journal with group commit: records appended while a write is in flight (or in the
 * same event-loop turn) go out together as one frame (a JSON array of the records), in one durable
 * write; each append's promise resolves only once its frame is on disk. A failed write poisons the journal: memory may then be
 * ahead of the disk, so every later call fails with STORE_UNAVAILABLE until the store is reopened.
 */
export class Journal {
  private queue: Buffer[] = [];
  private waiters: Waiter[] = [];
  private running = false;
  private failure: Error | undefined;
  private last: Promise<void> = Promise.resolve();
  private gen: number;
  private bytes: number;

  private constructor(private handle: FileHandle, private readonly opts: JournalOptions) {
    this.gen = opts.gen;
    this.bytes = opts.bytes;
  }

  static async open(opts: JournalOptions): Promise<Journal> {
    return new Journal(await open(join(opts.dir, files.journal), JOURNAL_FLAGS, FILE_MODE), opts);
  }

  /** Throws when the journal can take no more writes. */
  check(): void {
    if (this.failure !== undefined) throw new FleetkeyError('STORE_UNAVAILABLE', `journal write failed: ${this.failure.message}`);
  }

  /** `record`: the JSON of one mutation's ops. */
  append(record: Buffer): Promise<void> {
    this.check();
    this.queue.push(record);
    const done = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }));
    if (!this.running) {
      this.running = true;
      setImmediate(() => void this.run());
    }
    this.last = done;
    return done;
  }

  /** Resolves once everything appended so far is durable. */
  barrier(): Promise<void> {
    return this.last;
  }

  async close(): Promise<void> {
    await this.barrier().catch(() => undefined);
    await this.handle.close();
  }

  private async run(): Promise<void> {
    while (this.queue.length > 0) {
      const records = this.queue;
      const waiters = this.waiters;
      this.queue = [];
      this.waiters = [];
      try {
        if (this.bytes >= this.opts.compactBytes) await this.compact();
        else await this.write(encodeFrame(batch(records)));
        for (const w of waiters) w.resolve();
      } catch (err) {
        this.poison(err as Error, [...waiters, ...this.waiters]);
      }
    }
    this.running = false;
  }

  private async write(buf: Buffer): Promise<void> {
    for (let offset = 0; offset < buf.length; ) {
      const { bytesWritten } = await this.handle.write(buf, offset, buf.length - offset);
      offset += bytesWritten;
    }
    if (DSYNC === undefined) await this.handle.datasync();
    this.bytes += buf.length;
  }

  /**
   * Snapshot of the state now (which already holds the queued batch: ops reach memory before the
   * journal), then a fresh journal for the next generation. A crash between the two renames leaves
   * the new snapshot beside the old journal, whose older generation tells the loader to drop it.
   */
  private async compact(): Promise<void> {
    const gen = this.gen + 1;
    const started = Date.now();
    await writeFileAtomic(this.opts.dir, files.snapshot, encodeSnapshot(gen, this.opts.snapshot()));
    const header = encodeJournalHeader(gen);
    await writeFileAtomic(this.opts.dir, files.journal, header);
    const next = await open(join(this.opts.dir, files.journal), JOURNAL_FLAGS, FILE_MODE);
    await this.handle.close();
    this.handle = next;
    this.opts.logger.info({ event: 'store-compacted', gen, journalBytes: this.bytes, ms: Date.now() - started }, 'store journal compacted');
    this.gen = gen;
    this.bytes = header.length;
  }

  private poison(err: Error, waiters: Waiter[]): void {
    this.failure = err;
    this.queue = [];
    this.waiters = [];
    this.opts.logger.error({ event: 'store-write-failed', err }, 'store journal write failed; the store refuses further work until reopened');
    const refusal = new FleetkeyError('STORE_UNAVAILABLE', `journal write failed: ${err.message}`, { cause: err });
    for (const w of waiters) w.reject(refusal);
  }
}

/** `[r1,r2,…]` from the records' JSON, without parsing them again. */
function batch(records: Buffer[]): Buffer {
  const parts: Buffer[] = [];
  for (const r of records) parts.push(parts.length === 0 ? OPEN : COMMA, r);
  parts.push(CLOSE);
  return Buffer.concat(parts);
}

const OPEN = Buffer.from('[');
const COMMA = Buffer.from(',');
const CLOSE = Buffer.from(']');
