import t from 'tap';
import { startBroker, clientOptions, connect, closedWithin } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { createFleetCa } from '../../certs/ca.js';
import { issueDeviceCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';

t.test('ok/a device connects with its own id as client id', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev = fleet.device('dev1');
  const client = await connect(t, b, clientOptions(fleet, dev, 'dev1'));
  t.ok(client.connected);
  t.equal(b.broker.sessions.size, 1);
});

t.test('fail/client id must equal the certificate identity (CONNACK 5)', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev = fleet.device('dev1');
  for (const id of ['dev2', 'dev10', 'kdc-1', '']) {
    await t.rejects(connect(t, b, clientOptions(fleet, dev, id)), { code: 5 }, `client id ${JSON.stringify(id)}`);
  }
  const kdc = fleet.service('kdc', 'a');
  await t.rejects(connect(t, b, clientOptions(fleet, kdc, 'consumer-a')), { code: 5 }, 'kdc certificate as a consumer');
  t.ok(await connect(t, b, clientOptions(fleet, kdc, 'kdc-a')), 'kdc-<suffix> accepted');
  t.equal(b.broker.sessions.size, 1);
  const refusals = await b.broker.metrics.refusals.get();
  t.equal(refusals.values.find((v) => v.labels.reason === 'client-id')?.value, 5);
});

t.test('fail/username and password are not an identity', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev = fleet.device('dev1');
  await t.rejects(connect(t, b, clientOptions(fleet, dev, 'dev2', { username: 'dev2', password: 'dev2' })), { code: 5 });
});

t.test('fail/TLS refuses no certificate, a foreign CA, an expired certificate', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  await t.rejects(connect(t, b, clientOptions(fleet, undefined, 'dev1')), 'no client certificate');

  const foreign = createFleetCa({ name: 'Foreign' });
  const keys = generateDeviceKey();
  const stranger = issueDeviceCertificate(foreign, { deviceId: 'dev1', publicKey: keys.publicKey });
  const strangerFiles = { cert: stranger.pem + foreign.issuing.certificate.pem, key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
  await t.rejects(connect(t, b, { ...clientOptions(fleet, undefined, 'dev1'), ...strangerFiles }), 'certificate of another CA');

  const expired = fleet.device('dev1', { lifetimeDays: 1, now: new Date(Date.now() - 3 * 86_400_000) });
  await t.rejects(connect(t, b, clientOptions(fleet, expired, 'dev1')), 'expired certificate');
  const refusals = await b.broker.metrics.refusals.get();
  const counted = (reason: string) => refusals.values.find((v) => v.labels.reason === reason)?.value ?? 0;
  t.ok(counted('tls') >= 2, 'no certificate and a foreign CA: counted as TLS refusals');
  t.equal(counted('cert-expired'), 1, 'the expired certificate: counted under its own reason, naming the clock');
  t.equal(b.broker.sessions.size, 0);
});

t.test('fail/keepalive outside the bounds (CONNACK 2)', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev = fleet.device('dev1');
  await t.rejects(connect(t, b, clientOptions(fleet, dev, 'dev1', { keepalive: 0 })), { code: 2 });
  await t.rejects(connect(t, b, clientOptions(fleet, dev, 'dev1', { keepalive: 4000 })), { code: 2 });
});

t.test('a second connection with the same identity takes the session over', async (t) => {
  const fleet = await testFleet(t);
  const b = await startBroker(t, fleet);
  const dev = fleet.device('dev1');
  const first = await connect(t, b, clientOptions(fleet, dev, 'dev1'));
  const second = await connect(t, b, clientOptions(fleet, dev, 'dev1'));
  await closedWithin(first, 1000);
  t.ok(second.connected);
  t.equal(b.broker.sessions.size, 1);
});
