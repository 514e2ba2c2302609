import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import { pino } from 'pino';
import { backupStore, restoreStore, type BackupResult, type RestoreResult } from '../../store/backup.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore, type Store } from '../../store/index.js';
import { emit } from '../output.js';
import { action } from '../program.js';

interface StoreCliOptions {
  dir: string;
  store?: string;
  storePrefix: string;
  json?: boolean;
}

const BACKUP_HELP = `
Writes a consistent snapshot of the fleet's state (devices, certificates, revocations, CRL number,
epochs with their secrets still sealed under the KEK, grant and ack counters, API token hashes, the
audit log and the store's identity) as JSON lines with a SHA-256 trailer, mode 0600. The same file
restores into a file: or a redis: store. Back up the data directory alongside (docs/operations.md).`;

const RESTORE_HELP = `
Refuses a store that holds state unless --force, and a backup of another store than the data
directory's record (<dir>/${IDENTITY_FILE}) unless --force. Services on a redis: store refuse
everything (STORE_STATE_LOST) until the restore sets the store's identity marker, then work again
without a restart. A file: store must not be open in a running service (STORE_LOCKED).`;

/** `fleetkey store backup|restore`: the fleet's state to a file and back, on either backend. */
export function registerStore(program: Command): void {
  const store = program.command('store').description('back up and restore the state store');
  withStoreOptions(store.command('backup').description('write a consistent backup of the store to a file'))
    .option('--out <file>', 'backup file to write (default fleetkey-backup-<time>.jsonl in the current directory)')
    .addHelpText('after', BACKUP_HELP)
    .action(action(async (opts: StoreCliOptions & { out?: string }) => {
      const file = opts.out ?? `fleetkey-backup-${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}.jsonl`;
      const result = await withStore(opts, (s) => backupStore(s, file, progress));
      emit(opts, result, () => describeBackup(result));
    }));
  withStoreOptions(store.command('restore').description('restore a backup into the store').argument('<file>', 'a file written by `fleetkey store backup`'))
    .option('--force', 'replace a store that holds state, or restore a backup of another store id')
    .addHelpText('after', RESTORE_HELP)
    .action(action(async (file: string, opts: StoreCliOptions & { force?: boolean }) => {
      const dir = resolve(opts.dir);
      const recordPath = existsSync(dir) ? join(dir, IDENTITY_FILE) : undefined;
      const result = await withStore(opts, (s) => restoreStore(s, file, { force: opts.force ?? false, recordPath, progress }));
      emit(opts, result, () => describeRestore(result));
    }));
}

function withStoreOptions(cmd: Command): Command {
  return cmd
    .option('--dir <dir>', 'data directory made by `fleetkey init` (env FLEETKEY_DIR)', process.env.FLEETKEY_DIR ?? './data')
    .option('--store <url>', 'state store: file:<dir> or redis://host:port/db (env FLEETKEY_STORE; default file:<data dir>)', process.env.FLEETKEY_STORE)
    .option('--store-prefix <prefix>', 'key prefix on Redis (env FLEETKEY_STORE_PREFIX)', process.env.FLEETKEY_STORE_PREFIX ?? 'fleetkey:')
    .option('--json', 'print the result as JSON');
}

/** Opened without the identity check: a restore is how a store that lost its state is brought back. */
async function withStore<T>(opts: StoreCliOptions, work: (store: Store) => Promise<T>): Promise<T> {
  const logger = pino({ level: process.env.FLEETKEY_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const store = await openStore(opts.store ?? `file:${resolve(opts.dir)}`, { prefix: opts.storePrefix, logger });
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

function progress(msg: string): void {
  process.stderr.write(`fleetkey: ${msg}\n`);
}

function counts(c: Record<string, number>): string {
  return Object.entries(c).map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing';
}

function describeBackup(r: BackupResult): string {
  const id = r.header.storeId === null ? 'a store with no identity marker' : `store ${r.header.storeId} generation ${r.header.generation}`;
  return [`Backed up ${id} from ${r.header.store}`, `  ${r.file} (${r.bytes} bytes, mode 0600)`, `  ${counts(r.header.counts)}`, `  ${r.digest}`].join('\n');
}

function describeRestore(r: RestoreResult): string {
  return [
    `Restored the backup of ${r.backupAt} into ${r.store}`,
    `  store ${r.identity.id} is now at generation ${r.identity.generation}`,
    `  ${counts(r.counts)}`,
    'Revocations, enrollments, rotations and tokens made after the backup are not in it: see docs/operations.md.',
  ].join('\n');
}
