import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type { Logger } from 'pino';
import { FleetkeyError } from '../errors/index.js';
import { writeFileAtomic } from './file/disk.js';

/**
 * Which store a fleet's state lives in, and which version of it. The store holds a marker (Redis:
 * the hash `<prefix>meta`; file: an op in its state) and the data directory a record of the marker
 * it last saw (`store-identity.json`). `id` is made once, when a fleet first claims an empty store;
 * `generation` grows by one with every `fleetkey store restore`, so that every process notices that
 * the state it cached was replaced.
 */
export interface StoreIdentity {
  readonly id: string;
  readonly generation: number;
  readonly createdAt: string;
}

/** The data directory's record: the marker it last saw, and on which store. */
export interface IdentityRecord extends StoreIdentity {
  readonly store: string;
  readonly seenAt: string;
}

/** The record's file name inside the data directory. */
export const IDENTITY_FILE = 'store-identity.json';

export function newIdentity(now = new Date()): StoreIdentity {
  return { id: randomUUID(), generation: 1, createdAt: now.toISOString() };
}

export function isIdentity(value: unknown): value is StoreIdentity {
  const v = value as Partial<StoreIdentity> | null;
  return typeof v === 'object' && v !== null && typeof v.id === 'string' && /^[A-Za-z0-9-]{1,64}$/.test(v.id)
    && Number.isSafeInteger(v.generation) && (v.generation as number) >= 1 && typeof v.createdAt === 'string';
}

export function sameIdentity(a: StoreIdentity | undefined, b: StoreIdentity | undefined): boolean {
  return a !== undefined && b !== undefined && a.id === b.id && a.generation === b.generation;
}

/** The data directory's record, or undefined when there is none; a damaged record is STORE_IDENTITY_MISMATCH. */
export function readIdentityRecord(path: string): IdentityRecord | undefined {
  if (!existsSync(path)) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new FleetkeyError('STORE_IDENTITY_MISMATCH', `${path} is not a store identity record`, { cause: err });
  }
  if (!isIdentity(parsed)) throw new FleetkeyError('STORE_IDENTITY_MISMATCH', `${path} is not a store identity record`);
  return parsed as IdentityRecord;
}

export async function writeIdentityRecord(path: string, identity: StoreIdentity, store: string): Promise<void> {
  const record: IdentityRecord = { id: identity.id, generation: identity.generation, createdAt: identity.createdAt, store, seenAt: new Date().toISOString() };
  try {
    await writeFileAtomic(dirname(path), basename(path), Buffer.from(`${JSON.stringify(record, null, 2)}\n`));
  } catch (err) {
    // The data directory's fault, not the store's: waiting would not help.
    throw new FleetkeyError('DATA_DIR_INCOMPLETE', `cannot write ${path}: ${(err as Error).message}`, { cause: err });
  }
}

/** What opening a store does about its identity (`judgeIdentity`). */
export type IdentityVerdict =
  | { readonly kind: 'ok'; readonly identity: StoreIdentity; readonly recordStale: boolean }
  | { readonly kind: 'claim'; readonly adopting: boolean }
  | { readonly kind: 'lost'; readonly detail: string }
  | { readonly kind: 'mismatch'; readonly detail: string };

/**
 * The rules, the same for both backends:
 * - marker present and the record names it (or there is no record yet): ok, the record is (re)written
 *   when missing or older; a marker of an older generation than the record is a store that went back;
 * - no marker and no record: claim it — an empty store on the first start, or a store written before
 *   markers existed (an upgrade: its state is there, nothing was lost);
 * - no marker but a record (this fleet used a store before): lost;
 * - a marker of another id: mismatch.
 */
export function judgeIdentity(marker: StoreIdentity | undefined, record: StoreIdentity | undefined, hasState: boolean): IdentityVerdict {
  if (marker === undefined) {
    if (record !== undefined) return { kind: 'lost', detail: `the store has no identity marker, but this data directory used store ${record.id} (generation ${record.generation})` };
    return { kind: 'claim', adopting: hasState };
  }
  if (record === undefined) return { kind: 'ok', identity: marker, recordStale: true };
  if (marker.id !== record.id) return { kind: 'mismatch', detail: `the store is ${marker.id}, this data directory's is ${record.id}` };
  if (marker.generation < record.generation) {
    return { kind: 'lost', detail: `the store is at generation ${marker.generation}, this data directory saw generation ${record.generation}` };
  }
  return { kind: 'ok', identity: marker, recordStale: marker.generation !== record.generation };
}

/** The refusal for a verdict that is not ok. */
export function identityRefusal(verdict: Extract<IdentityVerdict, { kind: 'lost' | 'mismatch' }>): FleetkeyError {
  return verdict.kind === 'lost'
    ? new FleetkeyError('STORE_STATE_LOST', `${verdict.detail}: restore the last backup with \`fleetkey store restore FILE\``)
    : new FleetkeyError('STORE_IDENTITY_MISMATCH', verdict.detail);
}

/** What the identity check needs of a backend. */
export interface IdentityBackend {
  readMarker(): Promise<StoreIdentity | undefined>;
  /** Whether the store holds any fleet state (marker aside). */
  hasState(): Promise<boolean>;
  /** Sets the marker unless there is one already; returns the marker the store holds now. */
  claim(identity: StoreIdentity): Promise<StoreIdentity>;
}

/**
 * The check at open. Without a record path (library users, tests) nothing is claimed or refused: the
 * marker found, if any, is returned to be watched. With one, `judgeIdentity` decides; a refusal is
 * logged (`store-state-lost`, `store-identity-mismatch`) and thrown.
 */
export async function checkIdentityAtOpen(
  backend: IdentityBackend, recordPath: string | undefined, storeUrl: string, logger: Logger,
): Promise<StoreIdentity | undefined> {
  const marker = await backend.readMarker();
  if (recordPath === undefined) return marker;
  if (!existsSync(dirname(recordPath))) throw new FleetkeyError('DATA_DIR_INCOMPLETE', `${dirname(recordPath)} does not exist`);
  const record = readIdentityRecord(recordPath);
  let verdict = judgeIdentity(marker, record, marker === undefined && record === undefined && (await backend.hasState()));
  if (verdict.kind === 'claim') {
    const claimed = await backend.claim(newIdentity());
    if (verdict.adopting) logger.warn({ event: 'store-identity-adopted', storeId: claimed.id, generation: claimed.generation }, 'the store holds fleet state from before identity markers: marked it as this fleet\'s');
    else logger.info({ event: 'store-identity-claimed', storeId: claimed.id, generation: claimed.generation }, 'claimed an empty store for this fleet');
    verdict = judgeIdentity(claimed, undefined, false);
  }
  if (verdict.kind === 'lost' || verdict.kind === 'mismatch') {
    const refusal = identityRefusal(verdict);
    logger.error({ event: verdict.kind === 'lost' ? 'store-state-lost' : 'store-identity-mismatch', code: refusal.code, detail: verdict.detail, record: recordPath },
      'the store is not the one this fleet used: refusing to start on it');
    throw refusal;
  }
  if (verdict.kind === 'ok' && verdict.recordStale) await writeIdentityRecord(recordPath, verdict.identity, storeUrl);
  return verdict.kind === 'ok' ? verdict.identity : undefined;
}
