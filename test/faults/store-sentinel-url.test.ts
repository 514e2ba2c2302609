import t from 'tap';
import { parseRedisUrl } from '../../store/redis/url.js';

// store/redis/url.ts: the redis+sentinel:// form services are given to follow a failover.

t.test('ok/ sentinel URLs', async (t) => {
  const cases = [
    ['redis+sentinel://127.0.0.1:26379/fleet', { sentinels: [{ host: '127.0.0.1', port: 26379 }], name: 'fleet', db: 0 }, 'redis+sentinel://127.0.0.1:26379/fleet'],
    ['redis+sentinel://s1,s2:26380,s3:1/fleet/2', { sentinels: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }, { host: 's3', port: 1 }], name: 'fleet', db: 2 }, 'redis+sentinel://s1,s2:26380,s3:1/fleet/2'],
    ['redis+sentinel://[::1]:26379,[fd00::2]/my%20master/', { sentinels: [{ host: '::1', port: 26379 }, { host: 'fd00::2', port: 26379 }], name: 'my master', db: 0 }, 'redis+sentinel://[::1]:26379,[fd00::2]/my%20master'],
  ] as const;
  for (const [url, options, publicUrl] of cases) {
    const target = parseRedisUrl(url);
    t.equal(target.sentinel, true, url);
    t.same(target.options, options, `${url}: options`);
    t.equal(target.publicUrl, publicUrl, `${url}: public URL`);
  }
});

t.test('ok/ credentials: the password goes to the data nodes and the sentinels, and never into the public URL', async (t) => {
  const both = parseRedisUrl('redis+sentinel://app:p%40ss%3Aword@h1:26379,h2:26379/fleet/1');
  t.match(both.options, { username: 'app', password: 'p@ss:word', sentinelPassword: 'p@ss:word', name: 'fleet', db: 1 });
  t.equal(both.publicUrl, 'redis+sentinel://h1:26379,h2:26379/fleet/1');
  t.notMatch(both.publicUrl, /p%40ss|p@ss|app/);
  const passwordOnly = parseRedisUrl('redis+sentinel://:secret@h1/fleet');
  t.match(passwordOnly.options, { password: 'secret', sentinelPassword: 'secret' });
  t.notOk('username' in passwordOnly.options, 'no user name');
  const bare = parseRedisUrl('redis+sentinel://secret@h1/fleet');
  t.match(bare.options, { password: 'secret' }, 'user info without a colon is a password (as redis-cli -a)');
  t.notOk('password' in parseRedisUrl('redis+sentinel://h1/fleet').options, 'no credentials: none sent');
});

t.test('ok/ redis:// and rediss:// beside it', async (t) => {
  t.match(parseRedisUrl('redis://u:pw@[::1]:6380/3'), { sentinel: false, options: { host: '::1', port: 6380, db: 3, username: 'u', password: 'pw' }, publicUrl: 'redis://[::1]:6380/3' });
  t.match(parseRedisUrl('rediss://h'), { options: { host: 'h', port: 6379, db: 0, tls: {} } });
});

t.test('fail/ refused URLs', async (t) => {
  for (const url of [
    'redis+sentinel://h1:26379',
    'redis+sentinel://h1:26379/',
    'redis+sentinel:///fleet',
    'redis+sentinel://h1:26379/fleet/x',
    'redis+sentinel://h1:port/fleet',
    'redis+sentinel://h1:26379,,h2/fleet',
    'redis+sentinel://h1/fleet/1/extra',
    'redis://h/not-a-db',
    'http://h:6379',
    'not a url',
  ]) {
    t.throws(() => parseRedisUrl(url), { code: 'STORE_URL_INVALID' }, url);
  }
});
