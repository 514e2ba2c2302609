import t from 'tap';
import type { TLSSocket } from 'node:tls';
import { issueServerCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { openStore } from '../../store/index.js';
import { clientOptions, closedWithin, connect, startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { startRedis } from '../helpers/redis.js';

t.test('a session is closed when its certificate expires', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  // A one-day certificate issued a day ago, less three seconds: it expires three seconds from now.
  const files = fleet.device('dev1', { lifetimeDays: 1, now: new Date(Date.now() - 86_400_000 + 3_000) });
  const client = await connect(t, b, clientOptions(fleet, files, 'dev1'));
  const ms = await closedWithin(client, 6_000);
  t.ok(ms > 500, `closed at expiry, ${ms} ms after connecting`);
  const kicks = await b.broker.metrics.kicks.get();
  t.equal(kicks.values.find((v) => v.labels.reason === 'expired')?.value, 1);
});

t.test('the first connect with a re-enrolled certificate supersedes the old one and closes its sessions', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const token = 'enrollment-token-of-dev1';
  await fleet.store.registerDevices([{ id: 'dev1', token, tokenExpiresAt: new Date(Date.now() + 60_000) }], 'test');
  const old = fleet.device('dev1');
  const { issued } = old;
  await fleet.store.enrollDevice('dev1', token, {
    serial: issued.serial, subject: 'dev1', spki: issued.x509.publicKey.export({ type: 'spki', format: 'der' }),
    notBefore: issued.notBefore, notAfter: issued.notAfter, fingerprint: issued.fingerprint, issuedAt: new Date(),
  });
  const next = fleet.device('dev1');
  await fleet.record('dev1', next, old.issued.serial);
  const superseded = async () => (await fleet.store.listRevocations()).filter((r) => r.reason === 'superseded').map((r) => r.serial);

  const onOld = await connect(t, b, clientOptions(fleet, old, 'dev1'));
  t.same(await superseded(), [], 'the old certificate connects while the new one waits for its first use');
  await onOld.endAsync();

  const observer = await connect(t, b, clientOptions(fleet, fleet.device('dev2'), 'dev2'));
  const stillOld = await connect(t, b, clientOptions(fleet, old, 'dev1'));
  const onNew = await connect(t, b, clientOptions(fleet, next, 'dev1'));
  t.same(await superseded(), [old.issued.serial], 'the first connect with the new certificate supersedes the old one');
  await closedWithin(stillOld, 1000);
  t.pass('the session on the old certificate is closed');
  t.equal((await b.broker.metrics.superseded.get()).values[0]?.value, 1, 'counted');
  await t.rejects(connect(t, b, clientOptions(fleet, old, 'dev1')), /Not authorized/i, 'the old certificate no longer connects');
  await onNew.endAsync();
  await connect(t, b, clientOptions(fleet, next, 'dev1'));
  t.same(await superseded(), [old.issued.serial], 'a later connect changes nothing');
  t.ok(observer.connected, 'other devices are untouched');
});

t.test('with the store down a CONNECT gets CONNACK 3 at once; once the store is back it connects and records the first use', async (t) => {
  const fleet = await testFleet(t);
  const redis = await startRedis(t);
  const store = await openStore(redis.url, { prefix: 'first-use:' });
  t.teardown(() => store.close());
  const b = await startBroker(t, fleet, { store });
  const token = 'enrollment-token-of-dev1';
  await store.registerDevices([{ id: 'dev1', token, tokenExpiresAt: new Date(Date.now() + 60_000) }], 'test');
  const old = fleet.device('dev1');
  const next = fleet.device('dev1');
  const record = (files: typeof old, supersedes?: string) => ({
    serial: files.issued.serial, subject: 'dev1', spki: files.issued.x509.publicKey.export({ type: 'spki', format: 'der' }),
    notBefore: files.issued.notBefore, notAfter: files.issued.notAfter, fingerprint: files.issued.fingerprint, issuedAt: new Date(), supersedes,
  });
  await store.enrollDevice('dev1', token, record(old));
  await store.recordCertificate(record(next, old.issued.serial));

  await redis.stop();
  const started = Date.now();
  await t.rejects(connect(t, b, clientOptions(fleet, next, 'dev1')), { code: 3 }, 'server unavailable: revocations cannot be checked');
  t.ok(Date.now() - started < 1000, `refused within 1 s (${Date.now() - started} ms)`);

  await redis.restart();
  let admitted = false;
  for (let i = 0; i < 200 && !admitted; i++) {
    admitted = await connect(t, b, clientOptions(fleet, next, 'dev1')).then(() => true, () => false);
    if (!admitted) await new Promise((r) => setTimeout(r, 100));
  }
  t.ok(admitted, 'admitted again once the store is back, with no restart');
  const superseded = (await store.listRevocations()).filter((r) => r.reason === 'superseded').map((r) => r.serial);
  t.same(superseded, [old.issued.serial], 'the next connect records the first use');
});

t.test('TLS material reloads without dropping connected clients', async (t) => {
  const fleet = await testFleet(t);
  let server = fleet.server;
  const b = await startBroker(t, fleet, { tls: () => ({ ca: fleet.caPems, cert: server.cert, key: server.key }) });
  const before = await connect(t, b, clientOptions(fleet, fleet.device('dev1'), 'dev1'));
  const oldSerial = (before.stream as TLSSocket).getPeerX509Certificate()?.serialNumber;

  const key = generateDeviceKey();
  const renewed = issueServerCertificate(fleet.ca, { commonName: 'localhost', dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'], publicKey: key.publicKey });
  server = { cert: renewed.pem + fleet.ca.issuing.certificate.pem, key: key.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  await b.broker.reloadTls();

  const after = await connect(t, b, clientOptions(fleet, fleet.device('dev2'), 'dev2'));
  t.equal((after.stream as TLSSocket).getPeerX509Certificate()?.serialNumber, renewed.serial, 'new connections get the new certificate');
  t.not(oldSerial, renewed.serial);
  t.ok(before.connected, 'the client connected before the reload is still connected');
  await before.publishAsync('devices/dev1/telemetry', 'still here', { qos: 1 });
  t.pass('and can still publish');
});
