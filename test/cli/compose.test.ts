import { spawnSync } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const FILE = join(ROOT, 'docker-compose.yml');

/** `docker-compose` (v1, as Debian packages it and CI installs it), or undefined when it is not installed. */
function compose(args: string[]): ReturnType<typeof spawnSync> | undefined {
  const run = spawnSync('docker-compose', ['-f', FILE, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  return (run.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT' ? undefined : run;
}

const missing = compose(['version']) === undefined;

t.test('docker-compose.yml is a valid compose file with the whole topology', { skip: missing && 'docker-compose is not installed here (CI installs it: apt-get install docker-compose)' }, async (t) => {
  const quiet = compose(['config', '-q'])!;
  t.equal(quiet.status, 0, `docker-compose config -q exits 0${quiet.stderr ? `: ${String(quiet.stderr)}` : ''}`);
  const services = compose(['config', '--services'])!;
  t.equal(services.status, 0);
  const names = String(services.stdout).trim().split('\n').sort();
  t.same(names, ['broker1', 'broker2', 'haproxy', 'init', 'kdc', 'provisioner', 'redis', 'sim'], 'redis, init, two brokers, haproxy, provisioner, kdc, sim');
  const full = String(compose(['config'])!.stdout);
  t.notMatch(full, /FLEETKEY_TOKEN:|FLEETKEY_KEK:/, 'no token or KEK baked into the file');
  t.match(full, /sim --devices 100 --register[\s\S]*--url https:\/\/provisioner:8443 --broker[\s\S]*mqtts:\/\/haproxy:8883/, 'the sim service goes through haproxy and enrolls at the provisioner');
});
