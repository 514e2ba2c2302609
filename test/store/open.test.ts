import { pathToFileURL } from 'node:url';
import t from 'tap';
import { isFleetkeyError } from '../../errors/index.js';
import { openStore, redact } from '../../store/index.js';
import { tempDir } from '../helpers/tmp.js';

t.test('opens file: URLs, relative or file:///absolute', async (t) => {
  const dir = tempDir(t);
  const store = await openStore(`file:${dir}`);
  t.equal(store.url, `file:${dir}`);
  await store.registerDevices([{ id: 'd1', token: 'x'.repeat(20), tokenExpiresAt: new Date(Date.now() + 60_000) }], 'test');
  await store.close();
  const again = await openStore(pathToFileURL(dir).href);
  t.ok(await again.getDevice('d1'), 'same directory through a file:/// URL');
  await again.close();
});

t.test('refuses URLs it does not know, without echoing passwords', async (t) => {
  for (const url of ['', 'file:', 'data', 'ftp://host/x', 'redis:/nohost', 'mysql://user:hunter2@db/x', 'file://host%/x']) {
    const err = await openStore(url).catch((e: unknown) => e);
    t.ok(isFleetkeyError(err, 'STORE_URL_INVALID'), `${JSON.stringify(url)}: STORE_URL_INVALID`);
    t.notMatch(String((err as { detail?: string }).detail), /hunter2/, 'password not in the detail');
  }
  t.equal(redact('redis://:s3cret@h:6379/0'), 'redis://:***@h:6379/0');
  t.equal(redact('redis://user:s3cret@h'), 'redis://user:***@h');
  t.equal(redact('redis://h:6379'), 'redis://h:6379');
});
