import { statSync, chmodSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { isFleetkeyError } from '../../errors/index.js';
import { openFileStore } from '../../store/file/index.js';
import { tempDir } from '../helpers/tmp.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';

function firstLine(child: ReturnType<typeof spawnTs>): Promise<{ opened?: boolean; code?: string; message?: string }> {
  return new Promise((resolve, reject) => {
    onLine(child, (line) => resolve(JSON.parse(line) as { opened?: boolean; code?: string }));
    child.once('exit', () => reject(new Error('child exited without a word')));
  });
}

t.test('a second process is refused with STORE_LOCKED while one holds the store', async (t) => {
  const dir = tempDir(t);
  const store = await openFileStore(dir);
  const child = spawnTs(t, 'test/store/fixtures/child-store.ts', [dir, 'open']);
  const answer = await firstLine(child);
  t.equal(answer.code, 'STORE_LOCKED');
  t.match(answer.message ?? '', /in use by another fleetkey process/);
  await exited(child);
  await store.close();
  const again = spawnTs(t, 'test/store/fixtures/child-store.ts', [dir, 'open']);
  t.same((await firstLine(again)).opened, true, 'after close another process may open it');
  await exited(again);
});

t.test('the lock of a killed owner is taken over; a live owner is refused', async (t) => {
  const dir = tempDir(t);
  const holder = spawnTs(t, 'test/store/fixtures/child-store.ts', [dir, 'hold']);
  t.same((await firstLine(holder)).opened, true);
  await t.rejects(openFileStore(dir), { code: 'STORE_LOCKED' }, 'live owner');
  holder.kill('SIGKILL');
  await exited(holder);
  const store = await openFileStore(dir);
  t.pass('stale lock of a dead pid taken over');
  await store.close();
});

t.test('the same directory twice in one process is refused too', async (t) => {
  const dir = tempDir(t);
  const store = await openFileStore(dir);
  const err = await openFileStore(dir).catch((e: unknown) => e);
  t.ok(isFleetkeyError(err, 'STORE_LOCKED'), 'STORE_LOCKED');
  await store.close();
  const reopened = await openFileStore(dir);
  await reopened.close();
  t.notOk(readdirSync(dir).includes('store.lock'), 'close removes the lock');
});

t.test('a garbled lock file is stale, a lock from another host is never taken', async (t) => {
  const dir = tempDir(t);
  writeFileSync(join(dir, 'store.lock'), 'garbage', { mode: 0o600 });
  await (await openFileStore(dir)).close();
  writeFileSync(join(dir, 'store.lock'), JSON.stringify({ pid: 1, host: 'some-other-host' }), { mode: 0o600 });
  await t.rejects(openFileStore(dir), { code: 'STORE_LOCKED' });
});

t.test('directory 0700, files 0600, a loose directory is tightened', async (t) => {
  const parent = tempDir(t);
  const dir = join(parent, 'data');
  mkdirSync(dir, { mode: 0o755 });
  chmodSync(dir, 0o755);
  const store = await openFileStore(dir, { compactBytes: 1 });
  await store.appendAudit({ actor: 'a', action: 'b', subject: 'c' });
  await store.appendAudit({ actor: 'a', action: 'b', subject: 'c' });
  t.equal(statSync(dir).mode & 0o777, 0o700, 'dir 0700');
  const names = readdirSync(dir);
  t.same(names.sort(), ['store.journal', 'store.lock', 'store.snapshot']);
  for (const name of names) t.equal(statSync(join(dir, name)).mode & 0o777, 0o600, `${name} 0600`);
  await store.close();
});

t.test('a directory that cannot be made is STORE_UNAVAILABLE', async (t) => {
  const file = join(tempDir(t), 'a-file');
  writeFileSync(file, 'x');
  await t.rejects(openFileStore(join(file, 'data')), { code: 'STORE_UNAVAILABLE' });
});
