import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadFleetCa } from '../../certs/ca.js';
import { initDataDir } from '../../certs/init.js';
import { issueDeviceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { runMosquitto } from '../helpers/mosquitto.js';
import { tempDir } from '../helpers/tmp.js';

// `fleetkey broker` as an operator runs it: a data dir from init, the embedded store, signals.
t.test('fleetkey broker serves devices of the data dir, reloads on SIGHUP, stops on SIGTERM', async (t) => {
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Service Test' });
  const ca = loadFleetCa(join(dir, 'ca'));
  const key = generateDeviceKey();
  const cert = issueDeviceCertificate(ca, { deviceId: 'dev1', publicKey: key.publicKey });
  writeFileSync(join(dir, 'dev1.pem'), cert.pem + ca.issuing.certificate.pem);
  writeFileSync(join(dir, 'dev1.key'), key.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

  const child = spawnTs(t, 'cli/main.ts', ['broker', '--dir', dir, '--port', '0', '--metrics-port', '0', '--json'], { ...process.env, FLEETKEY_LOG_LEVEL: 'info' });
  const lines: Record<string, unknown>[] = [];
  const started = new Promise<{ mqtts: string; metrics: string }>((resolve) => {
    onLine(child, (line) => {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      lines.push(parsed);
      if (parsed.service === 'broker') resolve(parsed as unknown as { mqtts: string; metrics: string });
    });
  });
  const { mqtts, metrics } = await started;
  const port = new URL(mqtts).port;

  const pub = await runMosquitto('mosquitto_pub', [
    '-h', '127.0.0.1', '-p', port, '-V', 'mqttv311', '-i', 'dev1', '--cafile', join(dir, 'ca/chain.pem'),
    '--cert', join(dir, 'dev1.pem'), '--key', join(dir, 'dev1.key'), '-t', 'devices/dev1/telemetry', '-m', 'hello', '-q', '1',
  ]);
  t.equal(pub.code, 0, `a device of the data dir publishes (${pub.stderr.trim()})`);

  const scrape = execFileSync('curl', ['-sf', metrics], { encoding: 'utf8' });
  t.match(scrape, /fleetkey_broker_connects_total 1/, 'Prometheus metrics count the connection');
  t.match(scrape, /fleetkey_broker_messages_in_total 1/);

  child.kill('SIGHUP');
  while (!lines.some((l) => l.event === 'tls-reloaded')) await new Promise((r) => setTimeout(r, 50));
  t.pass('SIGHUP reloads the TLS material');
  t.ok(lines.some((l) => l.event === 'connect' && l.clientId === 'dev1'), 'the connection was logged');
  t.notMatch(JSON.stringify(lines), /PRIVATE KEY/, 'no key material in the logs');

  child.kill('SIGTERM');
  const { code } = await exited(child);
  t.equal(code, 0, 'SIGTERM ends it cleanly');
});

t.test('fail/fleetkey broker without a data dir exits non-zero with a code', async (t) => {
  const dir = tempDir(t);
  const child = spawnTs(t, 'cli/main.ts', ['broker', '--dir', join(dir, 'missing'), '--port', '0', '--metrics-port', '-1', '--store', `file:${dir}/store`]);
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  const { code } = await exited(child);
  t.not(code, 0);
  t.match(stderr, /DATA_DIR_INCOMPLETE/);
});
