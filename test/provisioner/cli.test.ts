import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { initDataDir } from '../../certs/init.js';
import { openssl } from '../helpers/openssl.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';

// The operator's CLI end to end: `fleetkey provisioner` in a child, every other command in its own
// child talking to it over the REST API, with the URL and admin token the provisioner left in the data dir.

async function fleetkey(t: Test, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnTs(t, 'cli/main.ts', args, { ...process.env, FLEETKEY_URL: '', FLEETKEY_TOKEN: '', ...env });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const { code } = await exited(child);
  return { code, stdout, stderr };
}

t.test('provisioner + tokens, devices, provision, revoke, status against it', async (t) => {
  const root = tempDir(t);
  const dir = join(root, 'data');
  initDataDir({ dir, name: 'CLI Test' });
  const server = spawnTs(t, 'cli/main.ts', ['provisioner', '--dir', dir, '--port', '0', '--json', '--log-level', 'warn']);
  const started = await new Promise<{ url: string; adminTokenFile: string; adminTokenCreated: boolean }>((resolve) => {
    onLine(server, (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      if (parsed.service === 'provisioner') resolve(parsed as never);
    });
  });
  t.match(started.url, /^https:\/\/127\.0\.0\.1:\d+$/);
  t.ok(started.adminTokenCreated, 'the first start makes the bootstrap admin token');
  t.equal(statSync(started.adminTokenFile).mode & 0o777, 0o600, 'admin.token is 0600');
  const d = ['--dir', dir];

  const factory = await fleetkey(t, ['tokens', 'create', '--role', 'factory', '--label', 'line 7', '--json', ...d]);
  t.equal(factory.code, 0, factory.stderr);
  const factoryToken = JSON.parse(factory.stdout).token as string;
  t.match(factoryToken, /^fk_/);

  const added = await fleetkey(t, ['devices', 'add', '--count', '3', '--prefix', 'line7-', ...d]);
  t.equal(added.code, 0, added.stderr);
  const csv = added.stdout.trim().split('\n');
  t.equal(csv[0], 'id,token');
  t.same(csv.slice(1).map((l) => l.split(',')[0]), ['line7-0001', 'line7-0002', 'line7-0003']);
  writeFileSync(join(root, 'batch.csv'), added.stdout);

  const out = join(root, 'bundles');
  writeFileSync(join(root, 'p12.pass'), 'factory-secret-1\n');
  const provision = ['provision', '--ids', join(root, 'batch.csv'), '--out', out, '--password-file', join(root, 'p12.pass'), '--token', factoryToken, ...d];
  const first = await fleetkey(t, [...provision, '--json']);
  t.equal(first.code, 0, first.stderr);
  t.same(JSON.parse(first.stdout).written.sort(), ['line7-0001', 'line7-0002', 'line7-0003']);
  const bundle = join(out, 'line7-0002');
  for (const file of ['key.pem', 'cert.pem', 'chain.pem', 'device.p12']) t.ok(existsSync(join(bundle, file)), file);
  t.equal(statSync(join(bundle, 'key.pem')).mode & 0o777, 0o600);
  t.match(openssl(['verify', '-CAfile', join(bundle, 'chain.pem'), join(bundle, 'cert.pem')]).stdout, /OK/, 'openssl verifies cert.pem');
  const info = openssl(['pkcs12', '-in', join(bundle, 'device.p12'), '-passin', 'pass:factory-secret-1', '-nokeys', '-info']);
  t.equal(info.status, 0, `openssl reads device.p12 (${info.stderr.trim()})`);
  t.match(info.stdout, /CN ?= ?line7-0002/);

  const rerun = await fleetkey(t, [...provision, '--json']);
  t.equal(rerun.code, 0, rerun.stderr);
  t.same(JSON.parse(rerun.stdout).skipped.length, 3, 'a rerun skips finished devices');

  writeFileSync(join(root, 'new-ids.txt'), '# second batch\nfresh-1\nfresh-2\n');
  const fresh = await fleetkey(t, ['provision', '--ids', join(root, 'new-ids.txt'), '--out', out, '--token', factoryToken, ...d]);
  t.equal(fresh.code, 0, fresh.stderr);
  t.match(fresh.stdout, /2 written, 0 already done, 0 failed/);
  t.ok(existsSync(join(out, 'fresh-1', 'device.p12.password')), 'a random password per bundle when none is given');

  const late = await fleetkey(t, ['devices', 'add', 'late-1', 'late-2', ...d]);
  t.equal(late.code, 0, late.stderr);
  const lateToken = late.stdout.trim().split('\n')[1]!.split(',')[1];
  const renewed = await fleetkey(t, ['devices', 'token', 'late-1', '--json', ...d]);
  t.equal(renewed.code, 0, renewed.stderr);
  const [renewedLate] = JSON.parse(renewed.stdout).devices;
  t.match(renewedLate, { id: 'late-1', token: /^[A-Za-z0-9_-]{32}$/, tokenExpiresAt: String });
  t.not(renewedLate.token, lateToken, 'devices token: a new token');
  const partly = await fleetkey(t, ['devices', 'token', 'late-2', 'fresh-1', ...d]);
  t.equal(partly.code, 2, 'an enrolled device is refused, non-zero exit');
  t.match(partly.stdout, /^id,token\nlate-2,[A-Za-z0-9_-]{32}$/m, 'the token renewed before the refusal is printed');
  t.match(partly.stderr, /DEVICE_STATE_CONFLICT/);
  const partlyJson = await fleetkey(t, ['devices', 'token', 'late-2', 'fresh-1', '--json', ...d]);
  t.equal(partlyJson.code, 2);
  t.match(JSON.parse(partlyJson.stdout), { devices: [{ id: 'late-2', token: String }], error: { code: 'DEVICE_STATE_CONFLICT' } }, '--json: one document, the renewed tokens and the refusal');

  const reprovisioned = await fleetkey(t, ['devices', 'reprovision', 'fresh-2', ...d]);
  t.equal(reprovisioned.code, 0, reprovisioned.stderr);
  t.match(reprovisioned.stdout, /^id,token\nfresh-2,[A-Za-z0-9_-]{32}\n# revoked 1 certificate\(s\): [0-9A-F]+\n$/, 'devices reprovision: a new token, the old certificate revoked');
  const notActive = await fleetkey(t, ['devices', 'reprovision', 'late-1', '--json', ...d]);
  t.equal(notActive.code, 2, 'a device that is not enrolled is refused');
  t.equal(JSON.parse(notActive.stdout).error.code, 'DEVICE_STATE_CONFLICT');

  const list = await fleetkey(t, ['devices', 'list', '--json', ...d]);
  t.equal(list.code, 0, list.stderr);
  t.equal(JSON.parse(list.stdout).devices.filter((x: { status: string }) => x.status === 'active').length, 4);

  const revoke = await fleetkey(t, ['revoke', 'line7-0001', '--reason', 'keyCompromise', '--json', ...d]);
  t.equal(revoke.code, 0, revoke.stderr);
  t.equal(JSON.parse(revoke.stdout).revoked.length, 1);
  const again = await fleetkey(t, ['revoke', 'line7-0001', '--reason', 'keyCompromise', ...d]);
  t.equal(again.code, 2, 'revoking twice exits non-zero');
  t.match(again.stderr, /DEVICE_STATE_CONFLICT/);

  const status = await fleetkey(t, ['status', '--json', ...d]);
  t.equal(status.code, 0, status.stderr);
  t.same(JSON.parse(status.stdout).devices, { registered: 3, active: 3, revoked: 1 });
  const human = await fleetkey(t, ['status', ...d]);
  t.match(human.stdout, /devices\s+registered 3, active 3, revoked 1/);

  const forbidden = await fleetkey(t, ['tokens', 'create', '--role', 'admin', '--token', factoryToken, ...d]);
  t.equal(forbidden.code, 2);
  t.match(forbidden.stderr, /API_ROLE_FORBIDDEN/);
  const badReason = await fleetkey(t, ['revoke', 'line7-0002', '--reason', 'bored', ...d]);
  t.not(badReason.code, 0, 'an unknown reason is refused before any request');
  const unreachable = await fleetkey(t, ['devices', 'list', '--url', 'https://127.0.0.1:1', '--json', ...d]);
  t.equal(unreachable.code, 1);
  t.equal(JSON.parse(unreachable.stdout).error.code, 'API_UNREACHABLE');
  const noUrl = await fleetkey(t, ['status', '--dir', join(root, 'nowhere')]);
  t.equal(noUrl.code, 2);
  t.match(noUrl.stderr, /API_URL_MISSING/);
  const help = await fleetkey(t, ['provision', '--help']);
  t.equal(help.code, 0);
  t.match(help.stdout, /Resumable/);

  server.kill('SIGTERM');
  t.equal((await exited(server)).code, 0, 'SIGTERM stops the provisioner cleanly');
  t.notOk(existsSync(join(dir, 'provisioner', 'endpoint.json')), 'the endpoint file is removed on exit');
  t.match(readFileSync(started.adminTokenFile, 'utf8'), /^fk_/, 'the admin token file stays for the next start');
});

t.test('fail/ provisioner --workers out of range: CONFIG_INVALID, non-zero exit, nothing served', async (t) => {
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'CLI Workers' });
  const bad = await fleetkey(t, ['provisioner', '--dir', dir, '--port', '0', '--workers', '-1', '--log-level', 'warn']);
  t.not(bad.code, 0);
  t.match(bad.stdout + bad.stderr, /CONFIG_INVALID/);
  t.notOk(existsSync(join(dir, 'provisioner', 'endpoint.json')), 'no endpoint file');
});
