import t from 'tap';
import { join } from 'node:path';
import mqtt from 'mqtt';
import type { Kdc } from '../../kdc/index.js';
import { deriveSessionKey } from '../../protocol/session-key.js';
import { deviceTopics, serviceTopics } from '../../protocol/topics.js';
import { openStore } from '../../store/index.js';
import { startBroker } from '../helpers/broker.js';
import { testFleet } from '../helpers/fleet.js';
import { enrolledDevice, rig, SimDevice, sleep, startKdc, until } from './kit.js';

/** The refusals counter by reason. */
async function refusals(kdc: Kdc): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const v of (await kdc.metrics.refusals.get()).values) out[String(v.labels.reason)] = v.value;
  return out;
}

t.test('ok/ a request gets a grant that echoes its nonce, with K = HKDF(S_e, D, e, g); the ack is recorded', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const kdc = await startKdc(t, r);
  const files = await enrolledDevice(fleet, 'dev-ok');
  const device = await SimDevice.connect(t, r, 'dev-ok', files);
  const grant = await device.next();
  t.equal(grant.req, device.keyring.requestNonce, 'req = the nonce of the request');
  t.equal(grant.epoch, 1);
  t.equal(grant.grant, 1, 'first grant number of the device in the epoch');
  t.ok(grant.key.equals(deriveSessionKey((await fleet.store.epochSecret(1, r.kek))!, 'dev-ok', 1, 1)), 'K from the epoch secret');
  t.ok(grant.nbf <= Math.floor(Date.now() / 1000) && grant.exp > grant.nbf, 'usable now, expires later');
  await until(async () => (await fleet.store.epochProgress(1)).acked === 1, 5000, 'ack recorded');
  t.same(await fleet.store.epochProgress(1), { epoch: 1, granted: 1, acked: 1 });

  device.request();
  const second = await device.next((g) => g.grant === 2);
  t.equal(second.req, device.keyring.requestNonce, 'a new request gets the next grant number');
  t.notOk(second.key.equals(grant.key), 'and a different key');
  t.equal(kdc.connectedDevices(), 1);
});

t.test('ok/ after a re-enrollment grants go to the old key until the new certificate is first used, then to the new one', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  await startKdc(t, r);
  const old = await enrolledDevice(fleet, 'dev-renewed');
  const next = fleet.device('dev-renewed');
  await fleet.record('dev-renewed', next, old.issued.serial);

  const onOld = await SimDevice.connect(t, r, 'dev-renewed', old);
  const first = await onOld.next();
  t.same(onOld.refusals, [], 'the grant opens with the old key: the new certificate may never have reached the device');
  await onOld.client.endAsync();

  const onNew = await SimDevice.connect(t, r, 'dev-renewed', next);
  const second = await onNew.next();
  t.same(onNew.refusals, [], 'once the new certificate connected, grants open with its key');
  t.ok((second.grant ?? 0) > (first.grant ?? 0), 'the next grant number');
  t.ok((await fleet.store.listRevocations()).some((x) => x.serial === old.issued.serial && x.reason === 'superseded'), 'the old certificate is superseded');
});

t.test('ok/ a request delivered twice (a QoS 1 redelivery) is answered once', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const kdc = await startKdc(t, r);
  const device = await SimDevice.connect(t, r, 'dev-twice', await enrolledDevice(fleet, 'dev-twice'), { request: false });
  const body = device.keyring.newRequest();
  device.client.publish(deviceTopics.rekeyRequest('dev-twice'), body, { qos: 1 });
  await device.next();
  device.client.publish(deviceTopics.rekeyRequest('dev-twice'), body, { qos: 1 });
  await sleep(500);
  t.equal(device.received.length, 1, 'one grant for the one request');
  const copies = (await kdc.metrics.grants.get()).values.find((v) => v.labels.outcome === 'answered-elsewhere')?.value;
  t.equal(copies, 1, 'the copy is counted as answered elsewhere');
});

t.test('fail/ refused requests get no grant, a metric and (but for floods and garbage) an audit entry', async (t) => {
  const fleet = await testFleet(t);
  // The broker keeps its own store, so that revoked devices can still reach the KDC: this exercises the KDC's checks, not the broker's.
  const brokerStore = await openStore(`file:${join(fleet.dir, 'broker-store')}`);
  t.teardown(() => brokerStore.close());
  const r = rig(fleet, await startBroker(t, fleet, { store: brokerStore }));
  const kdc = await startKdc(t, r, { requestIntervalMs: 60_000 });

  const unknown = await SimDevice.connect(t, r, 'dev-unknown', fleet.device('dev-unknown'));
  const revoked = await enrolledDevice(fleet, 'dev-revoked');
  await fleet.store.revokeDevice('dev-revoked', 'keyCompromise', 'test');
  const revokedDevice = await SimDevice.connect(t, r, 'dev-revoked', revoked);
  const notEnrolled = fleet.device('dev-registered');
  await fleet.store.registerDevices([{ id: 'dev-registered', token: 'x'.repeat(32), tokenExpiresAt: new Date(Date.now() + 60_000) }], 'test');
  const registeredOnly = await SimDevice.connect(t, r, 'dev-registered', notEnrolled);
  const certRevoked = await enrolledDevice(fleet, 'dev-cert-revoked');
  await fleet.store.revokeCertificate(certRevoked.issued.serial, 'superseded', 'test');
  const certRevokedDevice = await SimDevice.connect(t, r, 'dev-cert-revoked', certRevoked);
  const ok = await SimDevice.connect(t, r, 'dev-fine', await enrolledDevice(fleet, 'dev-fine'));
  await ok.next();

  ok.request(); // within requestIntervalMs: dropped
  const garbage = await SimDevice.connect(t, r, 'dev-garbage2', await enrolledDevice(fleet, 'dev-garbage2'), { request: false });
  for (const body of ['{"nonce":"short"}', 'not json', '{"nonce":"AAAAAAAAAAAAAAAAAAAAAA","x":1}']) garbage.client.publish(deviceTopics.rekeyRequest('dev-garbage2'), body, { qos: 1 });

  await until(async () => {
    const n = await refusals(kdc);
    return n.unknown === 1 && n.revoked === 1 && n['no-certificate'] === 2 && n['rate-limited'] === 1 && n.malformed === 3;
  }, 10_000, 'every refusal counted');
  await sleep(200);
  for (const d of [unknown, revokedDevice, registeredOnly, certRevokedDevice, garbage]) t.same(d.grants, [], `${d.id}: no grant`);
  t.equal(ok.grants.length, 1, 'the flood got no second grant');
  t.equal((await fleet.store.epochProgress(1)).granted, 1, 'no grant number was taken for a refused request');

  const audit = async (subject: string) => (await fleet.store.readAudit({ subject })).entries.filter((e) => e.action === 'kdc.grant.refused').map((e) => e.detail?.code);
  t.same(await audit('dev-unknown'), ['KDC_DEVICE_UNKNOWN']);
  t.same(await audit('dev-revoked'), ['KDC_DEVICE_REVOKED']);
  t.same(await audit('dev-registered'), ['KDC_NO_CERTIFICATE']);
  t.same(await audit('dev-cert-revoked'), ['KDC_NO_CERTIFICATE'], 'its only certificate is revoked');
  t.same(await audit('dev-fine'), [], 'rate limiting is not audited');
  t.same(await audit('dev-garbage2'), [], 'nor is garbage');
});

t.test('fail/ a consumer without a known certificate gets no epoch grant; a known one gets current + previous in grace', async (t) => {
  const fleet = await testFleet(t);
  const r = rig(fleet, await startBroker(t, fleet));
  const known = fleet.service('consumer', 'known');
  const kdc = await startKdc(t, r, { consumerCertificates: [known.cert] });
  const stranger = fleet.service('consumer', 'stranger');
  const listen = async (clientId: string, files: typeof known) => {
    const client = await mqtt.connectAsync(r.broker.url, { protocolVersion: 4, clientId, ca: fleet.caPems, cert: files.cert, key: files.key, reconnectPeriod: 0 }, false);
    t.teardown(() => client.endAsync(true).catch(() => undefined));
    const got: string[] = [];
    client.on('message', (_topic, payload) => got.push(payload.toString()));
    await client.subscribeAsync(serviceTopics.rekey(clientId), { qos: 1 });
    client.publish(serviceTopics.rekeyRequest(clientId), JSON.stringify({ nonce: 'AAAAAAAAAAAAAAAAAAAAAA' }), { qos: 1 });
    return got;
  };
  const strangerGot = await listen('consumer-stranger', stranger);
  await until(async () => (await refusals(kdc))['consumer-unknown'] === 1, 5000, 'refusal');
  t.same(strangerGot, []);
  t.same((await fleet.store.readAudit({ subject: 'consumer-stranger' })).entries.map((e) => e.detail?.code), ['KDC_CONSUMER_UNKNOWN']);

  await kdc.rotate({ switchAfterSeconds: 0 });
  const knownGot = await listen('consumer-known', known);
  await until(() => knownGot.length === 2, 5000, 'two epoch grants');
  const epochs = knownGot.map((jws) => JSON.parse(Buffer.from(jws.split('.')[1]!, 'base64url').toString()).epoch).sort();
  t.same(epochs, [1, 2], 'the current epoch and the previous one, still in grace');
});
