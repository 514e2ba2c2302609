import t from 'tap';
import type { TLSSocket } from 'node:tls';
import { issueServerCertificate } from '../../certs/issue.js';
import { generateDeviceKey } from '../../certs/keys.js';
import { clientOptions, closedWithin, connect, startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';

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
