import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';

async function up(t: Parameters<typeof spawnTs>[0], dir: string) {
  const child = spawnTs(t, 'cli/main.ts', ['up', '--dir', dir, '--mqtt-port', '0', '--https-port', '0', '--metrics-port', '0', '--json', '--log-level', 'warn']);
  const endpoints = await new Promise<{ created: boolean; mqtts: string; dataDir: string }>((resolve) => {
    onLine(child, (line) => {
      const parsed = JSON.parse(line) as { mqtts?: string };
      if (parsed.mqtts) resolve(parsed as { created: boolean; mqtts: string; dataDir: string });
    });
  });
  return { child, endpoints };
}

t.test('up makes the data dir on first run and continues with it after a restart', async (t) => {
  const dir = join(tempDir(t), 'data');
  const first = await up(t, dir);
  t.equal(first.endpoints.created, true, 'first run initialises the data dir');
  t.match(first.endpoints.mqtts, /^mqtts:\/\/127\.0\.0\.1:\d+$/);
  const manifest = readFileSync(join(dir, 'fleetkey.json'), 'utf8');
  first.child.kill('SIGTERM');
  t.equal((await exited(first.child)).code, 0, 'SIGTERM shuts down cleanly');

  const second = await up(t, dir);
  t.equal(second.endpoints.created, false, 'a restart keeps the existing CA');
  t.equal(readFileSync(join(dir, 'fleetkey.json'), 'utf8'), manifest, 'same fleet, untouched manifest');
  second.child.kill('SIGINT');
  t.equal((await exited(second.child)).code, 0);
});
