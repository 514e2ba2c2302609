import type { StoreIdentity } from './identity.js';
import type { StoredDevice } from './records.js';
import type { ApiTokenRecord, AuditEntry, CertificateRecord, EpochRecord, RevocationRecord } from './types.js';

/**
 * A fleet's state as both backends export and import it (`Store.exportState` / `importState`), so a
 * backup moves between `file:` and `redis:`. Secrets stay as stored: tokens as SHA-256, epoch secrets
 * sealed under the KEK. Not included: rekey claims and rotation leases (they last seconds) and the
 * broker's MQTT sessions.
 */
export type BackupRecord =
  | { readonly t: 'device'; readonly d: StoredDevice }
  | { readonly t: 'cert'; readonly c: CertificateRecord }
  | { readonly t: 'revocation'; readonly r: RevocationRecord }
  | { readonly t: 'revocation-seq'; readonly n: number }
  | { readonly t: 'crl'; readonly n: bigint }
  | { readonly t: 'epoch'; readonly e: EpochRecord; readonly sealed?: Buffer }
  | { readonly t: 'grants'; readonly e: number; readonly g: readonly (readonly [string, number])[] }
  | { readonly t: 'acks'; readonly e: number; readonly a: readonly (readonly [string, number])[] }
  | { readonly t: 'api-token'; readonly r: ApiTokenRecord; readonly hash: string }
  /** In log order; ids are the exporting backend's (a `redis:` import keeps stream ids, `file:` renumbers). */
  | { readonly t: 'audit'; readonly a: AuditEntry };

export type BackupRecordType = BackupRecord['t'];

export const backupRecordTypes: ReadonlySet<string> = new Set<BackupRecordType>([
  'device', 'cert', 'revocation', 'revocation-seq', 'crl', 'epoch', 'grants', 'acks', 'api-token', 'audit',
]);

export interface StoreSnapshot {
  /** The exported store's marker; undefined for a store that never had one. */
  readonly identity: StoreIdentity | undefined;
  readonly records: readonly BackupRecord[];
}

/** How the store stands (`Store.health`). */
export interface StoreHealth {
  /** `lost`: the identity marker is gone or changed, every operation refuses STORE_STATE_LOST; `unverified`: read again after a reconnect. */
  readonly state: 'ok' | 'unverified' | 'lost';
  readonly identity: StoreIdentity | undefined;
  /** Durable writes no replica acknowledged (store/redis/durability.ts); always 0 on `file:`. */
  readonly unreplicatedWrites: number;
}

/** Records of each type, for the backup header and the commands' output. */
export function countRecords(records: readonly BackupRecord[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of records) counts[r.t] = (counts[r.t] ?? 0) + 1;
  return counts;
}

/** Grants and acks go in chunks of this many devices per record. */
export const PAIRS_PER_RECORD = 1000;

export function chunkPairs(pairs: readonly (readonly [string, number])[]): (readonly [string, number])[][] {
  const out: (readonly [string, number])[][] = [];
  for (let i = 0; i < pairs.length; i += PAIRS_PER_RECORD) out.push(pairs.slice(i, i + PAIRS_PER_RECORD));
  return out;
}
