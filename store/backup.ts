import { createHash, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { FleetkeyError, isFleetkeyError } from '../errors/index.js';
import { backupRecordTypes, countRecords, type BackupRecord, type StoreSnapshot } from './backup-records.js';
import { writeFileAtomic } from './file/disk.js';
import { readIdentityRecord, writeIdentityRecord, type StoreIdentity } from './identity.js';
import { assertDeviceId, assertEpoch, decodeJson, encodeJson, validateCertificate } from './records.js';
import type { Store } from './types.js';

/**
 * The backup file: JSON lines (store/records.ts encoding: dates, buffers and bigints tagged). The
 * first line is the header, then one line per record (store/backup-records.ts), then a trailer with
 * the SHA-256 of every byte before it. Secrets are as the store keeps them: hashes and sealed epoch
 * secrets, never opened. Written mode 0600 (it holds token hashes and sealed secrets all the same).
 */
export const BACKUP_FORMAT = 'fleetkey-backup';
export const BACKUP_VERSION = 1;

export interface BackupHeader {
  readonly format: typeof BACKUP_FORMAT;
  readonly version: number;
  /** The store's identity marker when it was backed up (null: a store that had none). */
  readonly storeId: string | null;
  readonly generation: number | null;
  readonly storeCreatedAt: string | null;
  /** The store it came from, without credentials. */
  readonly store: string;
  readonly at: string;
  readonly counts: Record<string, number>;
}

interface Trailer {
  readonly digest: string;
  readonly records: number;
}

export function encodeBackup(snapshot: StoreSnapshot, store: string, at = new Date()): { bytes: Buffer; header: BackupHeader; digest: string } {
  const header: BackupHeader = {
    format: BACKUP_FORMAT,
    version: BACKUP_VERSION,
    storeId: snapshot.identity?.id ?? null,
    generation: snapshot.identity?.generation ?? null,
    storeCreatedAt: snapshot.identity?.createdAt ?? null,
    store,
    at: at.toISOString(),
    counts: countRecords(snapshot.records),
  };
  const lines = [encodeJson(header), ...snapshot.records.map((r) => encodeJson(r))];
  const body = Buffer.from(`${lines.join('\n')}\n`);
  const digest = `sha256:${createHash('sha256').update(body).digest('hex')}`;
  const trailer: Trailer = { digest, records: snapshot.records.length };
  return { bytes: Buffer.concat([body, Buffer.from(`${JSON.stringify(trailer)}\n`)]), header, digest };
}

/** Parses and checks a backup; anything wrong with it is BACKUP_INVALID naming what. */
export function decodeBackup(bytes: Buffer, name: string): { header: BackupHeader; snapshot: StoreSnapshot } {
  const bad = (why: string): never => {
    throw new FleetkeyError('BACKUP_INVALID', `${name}: ${why}`);
  };
  if (bytes.length === 0 || bytes[bytes.length - 1] !== 0x0a) bad('it does not end with a whole line (empty or cut short?)');
  const cut = bytes.lastIndexOf(0x0a, bytes.length - 2);
  if (cut < 0) bad('it has no header before its last line');
  const body = bytes.subarray(0, cut + 1);
  const trailer = parseLine<Trailer>(bytes.subarray(cut + 1, bytes.length - 1).toString('utf8')) ?? bad('the last line is not a trailer');
  if (typeof trailer.digest !== 'string') bad('the last line is not a trailer');
  if (`sha256:${createHash('sha256').update(body).digest('hex')}` !== trailer.digest) bad('the digest does not match its content (damaged or edited)');
  const lines = body.toString('utf8').split('\n').slice(0, -1);
  const header = parseLine<BackupHeader>(lines[0] ?? '') ?? bad('the first line is not a header');
  if (header.format !== BACKUP_FORMAT) bad(`not a ${BACKUP_FORMAT} file`);
  if (header.version !== BACKUP_VERSION) bad(`format version ${String(header.version)}, this fleetkey reads ${BACKUP_VERSION}`);
  const records = lines.slice(1).map((line, i) => checkRecord(parseLine<BackupRecord>(line), i + 2, bad));
  if (records.length !== trailer.records) bad(`${records.length} records, the trailer says ${trailer.records}`);
  const identity: StoreIdentity | undefined = header.storeId === null || header.generation === null
    ? undefined
    : { id: header.storeId, generation: header.generation, createdAt: header.storeCreatedAt ?? header.at };
  return { header, snapshot: { identity, records } };
}

function parseLine<T>(line: string): T | undefined {
  try {
    const value = decodeJson<T>(line);
    return typeof value === 'object' && value !== null ? value : undefined;
  } catch {
    return undefined;
  }
}

function checkRecord(r: BackupRecord | undefined, line: number, bad: (why: string) => never): BackupRecord {
  if (r === undefined || !backupRecordTypes.has(r.t)) return bad(`line ${line} is not a backup record`);
  try {
    if (r.t === 'device') assertDeviceId(r.d.id);
    if (r.t === 'cert') validateCertificate(r.c);
    if (r.t === 'epoch') assertEpoch(r.e.epoch);
    if (r.t === 'epoch' && r.sealed !== undefined && !Buffer.isBuffer(r.sealed)) bad(`line ${line}: sealed secret is not bytes`);
  } catch (err) {
    if (isFleetkeyError(err, 'BACKUP_INVALID')) throw err;
    return bad(`line ${line}: ${isFleetkeyError(err) ? err.detail ?? err.message : String(err)}`);
  }
  return r;
}

export interface BackupResult {
  readonly file: string;
  readonly bytes: number;
  readonly digest: string;
  readonly header: BackupHeader;
}

/** Exports the store and writes the backup to `file` (temp file, sync, rename; mode 0600). */
export async function backupStore(store: Store, file: string, progress: (msg: string) => void = () => undefined): Promise<BackupResult> {
  progress(`reading ${store.url}`);
  const snapshot = await store.exportState();
  progress(`writing ${snapshot.records.length} records to ${file}`);
  const { bytes, header, digest } = encodeBackup(snapshot, store.url);
  const path = resolve(file);
  try {
    await writeFileAtomic(dirname(path), basename(path), bytes);
  } catch (err) {
    throw new FleetkeyError('BACKUP_INVALID', `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return { file: path, bytes: bytes.length, digest, header };
}

export interface RestoreOptions {
  /** Replace a store that holds state, and restore a backup of another store id than the data directory's record. */
  readonly force: boolean;
  /** The data directory's identity record, updated to the restored identity (checked against the backup first). */
  readonly recordPath?: string | undefined;
  readonly progress?: (msg: string) => void;
}

export interface RestoreResult {
  readonly file: string;
  readonly store: string;
  readonly identity: StoreIdentity;
  readonly counts: Record<string, number>;
  readonly backupAt: string;
}

/**
 * Reads and checks the backup, writes it into the store and sets the marker: the backup's id, and a
 * generation past every one seen (the backup's, the store's, the data directory's) so that every
 * process on the store notices the replacement and reloads.
 */
export async function restoreStore(store: Store, file: string, opts: RestoreOptions): Promise<RestoreResult> {
  const progress = opts.progress ?? (() => undefined);
  const path = resolve(file);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new FleetkeyError('BACKUP_INVALID', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  const { header, snapshot } = decodeBackup(bytes, path);
  const record = opts.recordPath === undefined ? undefined : readIdentityRecord(opts.recordPath);
  if (record !== undefined && header.storeId !== null && record.id !== header.storeId && !opts.force) {
    throw new FleetkeyError('STORE_IDENTITY_MISMATCH', `the backup is of store ${header.storeId}, this data directory's store is ${record.id} (--force restores it anyway)`);
  }
  const current = store.health().identity;
  const identity: StoreIdentity = {
    id: header.storeId ?? record?.id ?? randomUUID(),
    generation: Math.max(header.generation ?? 0, current?.generation ?? 0, record?.generation ?? 0) + 1,
    createdAt: header.storeCreatedAt ?? header.at,
  };
  progress(`restoring ${snapshot.records.length} records of ${header.at} into ${store.url}`);
  await store.importState(snapshot, identity, { force: opts.force });
  if (opts.recordPath !== undefined) await writeIdentityRecord(opts.recordPath, identity, store.url);
  return { file: path, store: store.url, identity, counts: header.counts, backupAt: header.at };
}
