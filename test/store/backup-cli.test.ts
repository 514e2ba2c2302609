import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { initDataDir } from '../../certs/init.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { runCli as cli } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { registered } from './contract/fixtures.js';

// `fleetkey store backup|restore` as a user runs them: exit codes, --json, coded refusals, no stack traces.

t.test('store backup and restore through the CLI', async (t) => {
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'CLI Backup' });
  const storeDir = join(dir, 'state');
  const init = await cli(t, ['init', '--dir', dir, '--store', `file:${storeDir}`, '--json']);
  t.equal(init.code, 2, 'init refuses an existing data dir without --force (as before)');
  const store = await openStore(`file:${storeDir}`, { identity: join(dir, IDENTITY_FILE) });
  await registered(store, 3, 'cli');
  const id = store.health().identity!.id;
  await store.close();
  const common = ['--dir', dir, '--store', `file:${storeDir}`];

  const help = await cli(t, ['store', 'restore', '--help']);
  t.equal(help.code, 0, 'restore --help exits 0');
  t.match(help.stdout, /--force/, 'and names --force');

  const file = join(dir, '..', 'fleet.jsonl');
  const backup = await cli(t, ['store', 'backup', ...common, '--out', file, '--json']);
  t.equal(backup.code, 0, `backup exits 0: ${backup.stderr}`);
  const result = JSON.parse(backup.stdout) as { file: string; digest: string; header: { storeId: string; counts: Record<string, number> } };
  t.equal(result.header.storeId, id, 'the backup names the store');
  t.equal(result.header.counts.device, 3);
  t.match(result.digest, /^sha256:[0-9a-f]{64}$/);
  t.equal(statSync(file).mode & 0o777, 0o600, 'mode 0600');
  t.match(backup.stderr, /reading file:/, 'progress on stderr');

  const missing = await cli(t, ['store', 'restore', join(dir, 'nope.jsonl'), ...common]);
  t.equal(missing.code, 2, 'a missing file exits 2');
  t.match(missing.stderr, /^fleetkey: BACKUP_INVALID: /, 'with a coded message');
  t.notMatch(missing.stderr, /\n\s+at /, 'and no stack trace');

  const full = await cli(t, ['store', 'restore', file, ...common, '--json']);
  t.equal(full.code, 2, 'a store holding state exits 2');
  t.equal((JSON.parse(full.stdout) as { error: { code: string } }).error.code, 'STORE_NOT_EMPTY', '--json says STORE_NOT_EMPTY');

  const forced = await cli(t, ['store', 'restore', file, ...common, '--force', '--json']);
  t.equal(forced.code, 0, `--force restores: ${forced.stderr}`);
  const restored = JSON.parse(forced.stdout) as { identity: { id: string; generation: number } };
  t.same([restored.identity.id, restored.identity.generation], [id, 2], 'same id, generation 2');
  t.equal((JSON.parse(readFileSync(join(dir, IDENTITY_FILE), 'utf8')) as { generation: number }).generation, 2, 'the data dir record follows');

  const fresh = join(tempDir(t), 'fresh');
  const claimed = await cli(t, ['init', '--dir', fresh, '--store', `file:${join(fresh, 'state')}`, '--json']);
  t.equal(claimed.code, 0, `init --store claims an empty store: ${claimed.stderr}`);
  const made = JSON.parse(claimed.stdout) as { store: { id: string; generation: number } };
  t.equal(made.store.generation, 1);
  t.equal((JSON.parse(readFileSync(join(fresh, IDENTITY_FILE), 'utf8')) as { id: string }).id, made.store.id, 'and records it in the data dir');
});
