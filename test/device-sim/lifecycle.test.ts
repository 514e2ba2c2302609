import t from 'tap';
import { loadBundle, makeBundle, recordBundles, trustOf, writeBundle, type SimEvent } from '../../device-sim/index.js';
import { tempDir } from '../helpers/tmp.js';
import { bearer, call } from '../provisioner/fixture.js';
import { simStack, until } from './stack.js';

const DAY = 86_400_000;

t.test('a device whose certificate is past 2/3 of its lifetime renews it over EST and reconnects with the new one', async (t) => {
  const stack = await simStack(t);
  const { ca, store } = stack.fx.fleet;
  const trust = trustOf(ca);
  // 3-day certificate issued 2.5 days ago: 2/3 of its lifetime has passed.
  const old = makeBundle(ca, 'aging-1', { lifetimeDays: 3, now: new Date(Date.now() - 2.5 * DAY), trust });
  await recordBundles(store, [old]);
  const dir = tempDir(t);
  writeBundle(dir, old, trust);
  const { identity } = loadBundle(dir, 'aging-1');
  t.equal(identity.serial, old.issued.serial, 'the bundle loads');

  const sim = stack.fleet([{ id: 'aging-1', identity }], { rate: 2 });
  sim.start();
  await until(() => stack.events.some((e) => e.type === 'renewed'), 20_000, 'renewal');
  const renewed = stack.events.find((e): e is Extract<SimEvent, { type: 'renewed' }> => e.type === 'renewed')!;
  t.equal(renewed.previous, old.issued.serial, 'renewed the aging certificate');
  t.not(renewed.serial, old.issued.serial, 'with a new serial');
  await until(() => stack.events.some((e) => e.type === 'connected' && e.serial === renewed.serial), 15_000, 'a connection with the new certificate');
  const at = stack.events.findIndex((e) => e.type === 'connected' && e.serial === renewed.serial);
  await until(() => stack.events.slice(at).some((e) => e.type === 'granted' && e.req !== undefined), 15_000, 'a grant after reconnecting');
  await until(() => stack.events.slice(at).some((e) => e.type === 'sealed'), 5000, 'telemetry after renewal');

  const device = sim.devices[0]!;
  t.equal(device.identity?.serial, renewed.serial, 'the device holds the new certificate');
  t.ok(device.identity!.notAfter - Date.now() > 80 * DAY, 'a full-lifetime certificate (provisioner default 90 days)');
  const certificates = await store.listCertificates('aging-1');
  t.equal(certificates.at(-1)?.serial, renewed.serial, 'the store lists the new certificate as current');
  t.ok((await store.listRevocations()).some((r) => r.serial === old.issued.serial && r.reason === 'superseded'), 'the old one is superseded');
  const report = await sim.stop();
  t.equal(report.connections.renewals, 1, 'one renewal reported');
  t.equal(report.latencyMs.renew.n, 1, 'its latency measured');
  t.same(report.failed, {}, 'the device did not end in error');
});

t.test('a device revoked mid-run is cut off, reports SIM_DEVICE_REVOKED and stops; the others carry on', async (t) => {
  const stack = await simStack(t);
  const ids = ['rv-1', 'rv-2', 'rv-3'];
  const sim = stack.fleet(await stack.register(ids), { rate: 4 });
  sim.start();
  t.ok(await sim.ready(30_000), 'all connected with keys');

  const operator = await stack.fx.apiToken('operator');
  const revokedAt = Date.now();
  const answer = await call(stack.fx, 'POST', '/v1/devices/rv-2/revoke', { headers: bearer(operator), json: { reason: 'keyCompromise' } });
  t.equal(answer.status, 200, 'revoked through the REST API');
  await until(() => stack.events.some((e) => e.type === 'disconnected' && e.deviceId === 'rv-2'), 5000, 'rv-2 cut off');
  t.ok(Date.now() - revokedAt < 2000, `cut off ${Date.now() - revokedAt} ms after the revocation`);
  await until(() => sim.devices[1]!.stage === 'failed', 20_000, 'rv-2 stops');
  t.equal(sim.devices[1]!.failure, 'SIM_DEVICE_REVOKED', 'and reports the revocation');
  t.ok(stack.events.some((e) => e.type === 'failed' && e.deviceId === 'rv-2' && e.code === 'SIM_DEVICE_REVOKED'), 'a failed event');

  const sealedBy = (id: string) => stack.events.filter((e) => e.type === 'sealed' && e.deviceId === id).length;
  const counts = ids.map(sealedBy);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  t.equal(sealedBy('rv-2'), counts[1], 'the revoked device sends nothing more');
  t.ok(sealedBy('rv-1') > counts[0]! && sealedBy('rv-3') > counts[2]!, 'the others keep sending');
  const report = await sim.stop();
  t.same(report.failed, { SIM_DEVICE_REVOKED: 1 }, 'the report names the one device that ended in error');
  t.match(report.stages, { failed: 1, keyed: 2 }, 'stages at the end');
});

t.test('a dropped connection comes back with TLS session resumption, keeps its key and seq, and asks for a new grant', async (t) => {
  const stack = await simStack(t);
  const sim = stack.fleet(await stack.register(['drop-1']), { rate: 5 });
  sim.start();
  t.ok(await sim.ready(20_000), 'connected with a key');
  await new Promise((resolve) => setTimeout(resolve, 600));
  const device = sim.devices[0]!;
  const before = stack.events.length;
  const held = device.keyring.current()!;
  // The broker drops the session (as on a kick); the certificate stays valid.
  t.equal(stack.broker.broker.sessions.kickRevoked([device.identity!.serial], undefined, new Date()), 1, 'session dropped');
  await until(() => stack.events.slice(before).some((e) => e.type === 'connected'), 10_000, 'reconnect');
  const reconnect = stack.events.slice(before).find((e): e is Extract<SimEvent, { type: 'connected' }> => e.type === 'connected')!;
  t.ok(reconnect.resumed, 'the TLS session was resumed');
  const firstSeal = stack.events.slice(before).find((e): e is Extract<SimEvent, { type: 'sealed' }> => e.type === 'sealed');
  if (firstSeal && firstSeal.grant === held.grant) t.ok(firstSeal.seq > 0n, 'sealing under the held key continues its seq (no restart at 0)');
  await until(() => stack.events.slice(before).some((e) => e.type === 'granted' && e.req !== undefined), 10_000, 'a new grant');
  const grant = stack.events.slice(before).find((e): e is Extract<SimEvent, { type: 'granted' }> => e.type === 'granted')!;
  t.ok(grant.epoch === held.epoch && grant.grant > held.grant, 'a newer grant number after the reconnect');
  const report = await sim.stop();
  t.equal(report.connections.reconnects, 1);
  t.same(report.failed, {});
});
