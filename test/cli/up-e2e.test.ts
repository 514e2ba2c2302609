import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runMosquitto } from '../helpers/mosquitto.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';

// What a new user does after `npm start`: register a device, enroll it by hand with openssl + curl,
// publish with mosquitto_pub; then stop and restart the stack and find everything still there.

interface Endpoints { created: boolean; provisioner: string; mqtts: string; caBundle: string }

async function up(t: Parameters<typeof spawnTs>[0], dir: string) {
  const child = spawnTs(t, 'cli/main.ts', ['up', '--dir', dir, '--mqtt-port', '0', '--https-port', '0', '--metrics-port', '-1', '--json', '--log-level', 'warn']);
  const endpoints = await new Promise<Endpoints>((resolve) => {
    onLine(child, (line) => {
      const parsed = JSON.parse(line) as Partial<Endpoints>;
      if (parsed.mqtts) resolve(parsed as Endpoints);
    });
  });
  return { child, endpoints };
}

async function fleetkey(t: Parameters<typeof spawnTs>[0], args: string[]): Promise<string> {
  const child = spawnTs(t, 'cli/main.ts', args);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  const { code } = await exited(child);
  t.equal(code, 0, `fleetkey ${args.slice(0, 2).join(' ')} exits 0`);
  return out;
}

t.test('up, enroll by hand with openssl and curl, publish with mosquitto_pub, restart', async (t) => {
  const work = tempDir(t);
  const dir = join(work, 'data');
  const first = await up(t, dir);
  t.equal(first.endpoints.created, true);

  const added = JSON.parse(await fleetkey(t, ['devices', 'add', 'dev-e2e', '--dir', dir, '--json'])) as { devices: { id: string; token: string }[] };
  const token = added.devices[0]?.token ?? '';
  t.match(token, /^\S{20,}$/, 'a one-time token came back once');

  const key = join(work, 'dev.key');
  const csr = join(work, 'dev.csr');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-subj', '/CN=dev-e2e', '-outform', 'DER', '-out', csr], { stdio: 'ignore' });
  writeFileSync(`${csr}.b64`, readFileSync(csr).toString('base64'));
  const answer = execFileSync('curl', [
    '-sS', '--fail-with-body', '--cacert', first.endpoints.caBundle, '-u', `dev-e2e:${token}`,
    '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}.b64`, `${first.endpoints.provisioner}/.well-known/est/simpleenroll`,
  ]);
  writeFileSync(join(work, 'answer.p7'), Buffer.from(answer.toString('latin1'), 'base64'));
  execFileSync('openssl', ['pkcs7', '-inform', 'DER', '-in', join(work, 'answer.p7'), '-print_certs', '-out', join(work, 'dev.pem')]);
  const verify = execFileSync('openssl', ['verify', '-CAfile', join(dir, 'ca/root.pem'), '-untrusted', join(dir, 'ca/issuing.pem'), join(work, 'dev.pem')], { encoding: 'utf8' });
  t.match(verify, /OK/, 'the enrolled certificate verifies against the fleet CA');
  writeFileSync(join(work, 'dev-chain.pem'), readFileSync(join(work, 'dev.pem'), 'utf8') + readFileSync(join(dir, 'ca/issuing.pem'), 'utf8'));

  const port = new URL(first.endpoints.mqtts).port;
  const pub = await runMosquitto('mosquitto_pub', [
    '-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-i', 'dev-e2e', '--cafile', first.endpoints.caBundle,
    '--cert', join(work, 'dev-chain.pem'), '--key', key, '-t', 'devices/dev-e2e/telemetry', '-m', '{"t":21.5}', '-q', '1',
  ]);
  t.equal(pub.code, 0, `mosquitto_pub with the enrolled certificate (${pub.stderr.trim()})`);

  first.child.kill('SIGTERM');
  t.equal((await exited(first.child)).code, 0, 'SIGTERM stops the stack cleanly');

  const second = await up(t, dir);
  t.equal(second.endpoints.created, false, 'the restart keeps the CA');
  const shown = JSON.parse(await fleetkey(t, ['devices', 'show', 'dev-e2e', '--dir', dir, '--json'])) as { status: string; certificates?: unknown[] };
  t.equal(shown.status, 'active', 'the enrollment survived the restart');
  const again = await runMosquitto('mosquitto_pub', [
    '-h', '127.0.0.1', '-p', new URL(second.endpoints.mqtts).port, '-V', 'mqttv311', '-i', 'dev-e2e', '--cafile', second.endpoints.caBundle,
    '--cert', join(work, 'dev-chain.pem'), '--key', key, '-t', 'devices/dev-e2e/telemetry', '-m', '{"t":21.6}', '-q', '1',
  ]);
  t.equal(again.code, 0, 'the device connects again after the restart');
  const retried = execFileSync('curl', [
    '-sS', '--fail-with-body', '--cacert', second.endpoints.caBundle, '-u', `dev-e2e:${token}`,
    '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${csr}.b64`, `${second.endpoints.provisioner}/.well-known/est/simpleenroll`,
  ]);
  t.equal(retried.toString('latin1'), answer.toString('latin1'), 'the same token and key after the restart (a lost answer retried): the same certificate');
  const otherCsr = join(work, 'other.csr');
  execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', join(work, 'other.key'), '-subj', '/CN=dev-e2e', '-outform', 'DER', '-out', otherCsr], { stdio: 'ignore' });
  writeFileSync(`${otherCsr}.b64`, readFileSync(otherCsr).toString('base64'));
  const reused = execFileSync('curl', [
    '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--cacert', second.endpoints.caBundle, '-u', `dev-e2e:${token}`,
    '-H', 'Content-Type: application/pkcs10', '--data-binary', `@${otherCsr}.b64`, `${second.endpoints.provisioner}/.well-known/est/simpleenroll`,
  ], { encoding: 'utf8' });
  t.equal(reused, '401', 'the used token stays used for any other key across the restart');
  second.child.kill('SIGTERM');
  t.equal((await exited(second.child)).code, 0);
});
