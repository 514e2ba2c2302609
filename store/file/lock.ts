import { hostname } from 'node:os';
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FleetkeyError } from '../../errors/index.js';
import { FILE_MODE, files } from './disk.js';

interface LockOwner {
  readonly pid: number;
  readonly host: string;
}

/**
 * Makes this process the one owner of a `file:` store: `<dir>/store.lock` holds its pid.
 * The lock is created by hard-linking a fully written temp file, so it appears atomically and never
 * empty (O_EXCL semantics, without a window in which a reader sees a half-written pid).
 * A lock whose pid is dead on this host is stale and taken over; a live one is STORE_LOCKED.
 * Returns the release function.
 */
export function acquireLock(dir: string): () => void {
  const lockPath = join(dir, files.lock);
  const mine = JSON.stringify({ pid: process.pid, host: hostname() } satisfies LockOwner);
  const tmp = join(dir, `${files.lock}.${process.pid}.tmp`);
  writeFileSync(tmp, mine, { mode: FILE_MODE });
  try {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      try {
        linkSync(tmp, lockPath);
        return () => release(lockPath, mine);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const held = readOrEmpty(lockPath);
      const owner = parseOwner(held);
      if (owner !== undefined && isLive(owner)) {
        throw new FleetkeyError('STORE_LOCKED', `${dir} is held by pid ${owner.pid} on ${owner.host}`);
      }
      takeOver(lockPath, held);
    }
    throw new FleetkeyError('STORE_LOCKED', `${dir}: lost the race for a stale lock`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * Moves the stale lock aside and checks it is the one we judged stale: if another process took it
 * over in between, we moved its fresh lock, so we put it back and let the next attempt refuse.
 */
function takeOver(lockPath: string, stale: string): void {
  const aside = `${lockPath}.${process.pid}.stale`;
  try {
    renameSync(lockPath, aside);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  if (readOrEmpty(aside) !== stale) {
    try {
      linkSync(aside, lockPath);
    } catch {
      // Yet another process holds it now; the next attempt sees that owner.
    }
  }
  rmSync(aside, { force: true });
}

function release(lockPath: string, mine: string): void {
  if (readOrEmpty(lockPath) === mine) rmSync(lockPath, { force: true });
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw err;
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const owner = JSON.parse(text) as Partial<LockOwner>;
    return Number.isSafeInteger(owner.pid) && typeof owner.host === 'string' ? (owner as LockOwner) : undefined;
  } catch {
    return undefined;
  }
}

/** Our own pid counts as live: the same directory opened twice in one process is refused too. */
function isLive(owner: LockOwner): boolean {
  if (owner.host !== hostname()) return true; // cannot check another host's pid: never steal it
  try {
    process.kill(owner.pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
