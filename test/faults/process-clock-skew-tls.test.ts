import { get } from 'node:http';
import { join } from 'node:path';
import { loadFleetCa } from '../../certs/ca-files.js';
import { issueDeviceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { certificateRecord } from '../../provisioner/issuance.js';
import type { Store } from '../../store/types.js';
import t from 'tap';
import { offsetSeconds } from '../../certs/clock.js';
import { readCaPems } from '../../cli/data-dir.js';
import { simpleReenroll } from '../../device-sim/est-client.js';
import { newKeyRequest } from '../../device-sim/identity.js';
import { openStore } from '../../store/index.js';
import { startRedis } from '../helpers/redis.js';
import { faultFleet, tryConnect } from './broker-cluster.js';
import { skewed } from './clock-skew.js';
import { startService, until } from './store-services-process.js';

// A service whose clock is behind meets a certificate issued a moment ago (by a provisioner whose
// clock is right): within the leeway (2 minutes) the certificate's backdating covers it; 10 minutes
// behind, the broker refuses the TLS handshake and the provisioner the re-enrollment, each with a
// log line that says the certificate is not valid yet by its own clock, and the broker counts it
// under its own reason.

/** A device enrolled a moment ago by a provisioner whose clock is right: registered, token consumed, active. */
async function enrolledDevice(dir: string, store: Store, id: string): Promise<{ cert: string; key: string }> {
  const ca = loadFleetCa(join(dir, 'ca'));
  const keys = generateDeviceKey('ec-p256');
  const issued = issueDeviceCertificate(ca, { deviceId: id, publicKey: keys.publicKey });
  const token = 't'.repeat(32);
  await store.registerDevices([{ id, token, tokenExpiresAt: new Date(Date.now() + 3600_000) }], 'test');
  await store.enrollDevice(id, token, certificateRecord(issued, id, issued.x509.publicKey.export({ type: 'spki', format: 'der' })), issued.der);
  return { cert: issued.pem + ca.issuing.certificate.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

const metricsText = (url: string): Promise<string> => new Promise((resolve, reject) => {
  get(url, (res) => {
    let body = '';
    res.setEncoding('utf8').on('data', (s: string) => (body += s)).on('end', () => resolve(body));
  }).on('error', reject);
});

t.test('broker and provisioner 2 minutes behind admit a fresh certificate; 10 minutes behind refuse it, naming their clock', async (t) => {
  const redis = await startRedis(t);
  const fleet = await faultFleet(t);
  const store = await openStore(redis.url);
  t.teardown(() => store.close());
  const service = (args: string[], offset: string) =>
    startService(t, [...args, '--dir', fleet.dir, '--store', redis.url, '--log-level', 'info'], skewed(offset));
  const brokers = { near: service(['broker', '--port', '0', '--metrics-port', '-1'], '-2m'), far: service(['broker', '--port', '0', '--metrics-port', '0'], '-10m') };
  const provisioners = { near: service(['provisioner', '--port', '0'], '-2m'), far: service(['provisioner', '--port', '0'], '-10m') };
  const [near, far, pNear, pFar] = await Promise.all([brokers.near.started, brokers.far.started, provisioners.near.started, provisioners.far.started]);

  const device = await fleet.device(store, 'clk-1');
  const admitted = await tryConnect(t, String(near.mqtts), device);
  t.equal(admitted.code, 0, 'broker 2 minutes behind: CONNACK 0');
  admitted.client?.end(true);
  const refused = await tryConnect(t, String(far.mqtts), device);
  t.not(refused.code, 0, 'broker 10 minutes behind: no session');
  await until(() => brokers.far.events('tls-refused').length > 0, 20_000, 'the broker\'s tls-refused line');
  const [line] = brokers.far.events('tls-refused');
  t.match(line, {
    reason: 'cert-not-yet-valid', code: 'CERT_NOT_YET_VALID',
    error: /^certificate not valid yet by this broker's clock \(\S+Z\); check the clock of this host or of the issuer$/,
  }, 'the refusal names the broker\'s clock');
  const brokerClock = Date.parse(/\((\S+Z)\)/.exec(String(line?.error))?.[1] ?? '');
  t.ok(Math.abs(offsetSeconds(brokerClock, Date.now()) + 600) < 60, `the time it gives is the broker's own (${offsetSeconds(brokerClock, Date.now())} s)`);
  t.match(await metricsText(String(far.metrics)), /fleetkey_broker_refusals_total\{reason="cert-not-yet-valid"\} 1\b/, 'counted under reason="cert-not-yet-valid"');
  t.equal(brokers.near.events('tls-refused').length, 0, 'the broker 2 minutes behind refused nothing');

  const est = (url: unknown) => ({ url: String(url), ca: readCaPems(fleet.dir) });
  const renewed = await simpleReenroll(est(pNear.url), await enrolledDevice(fleet.dir, store, 'clk-r1'), newKeyRequest('clk-r1').csr);
  t.match(renewed, { ok: true }, 'provisioner 2 minutes behind: re-enrollment with the fresh certificate works');
  t.ok(renewed.serverDateMs !== undefined && Math.abs(offsetSeconds(renewed.serverDateMs, Date.now()) + 120) < 30, 'its HTTP Date shows its clock 2 minutes behind');
  const answer = await simpleReenroll(est(pFar.url), await enrolledDevice(fleet.dir, store, 'clk-r2'), newKeyRequest('clk-r2').csr);
  t.match(answer, { ok: false, status: 403, code: 'CERT_NOT_YET_VALID' }, 'provisioner 10 minutes behind: 403 CERT_NOT_YET_VALID');
  await until(() => provisioners.far.events('refused').some((l) => l.code === 'CERT_NOT_YET_VALID'), 20_000, 'the provisioner\'s refused line');
  t.match(provisioners.far.events('refused').find((l) => l.code === 'CERT_NOT_YET_VALID'), {
    url: '/.well-known/est/simplereenroll', status: 403,
    detail: /^client certificate not valid until \S+Z by this provisioner's clock \(\S+Z\); check the clock of this host or of the issuer$/,
  }, 'the refusal names the certificate\'s notBefore and the provisioner\'s clock');
  t.same((await store.listCertificates('clk-r2')).length, 1, 'nothing issued for the refused device');
});
