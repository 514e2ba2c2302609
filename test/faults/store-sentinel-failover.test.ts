import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import mqtt from 'mqtt';
import t from 'tap';
import { initDataDir } from '../../certs/init.js';
import { ApiClient } from '../../cli/api-client.js';
import { readCaPems } from '../../cli/data-dir.js';
import { startSentinel } from '../helpers/sentinel.js';
import { tempDir } from '../helpers/tmp.js';
import { alive, startService, until } from './store-services-process.js';

// A provisioner and a broker (child processes) on `--store redis+sentinel://…`: the primary is
// SIGKILLed, Sentinel promotes the replica, and both follow it with no restart. Enrollments and
// revocations before and after; nothing acknowledged before the kill is lost; no revoked device admitted.

interface Bundle { certificate: string; chain: string; privateKey: string; serial: string }

/** Whether the broker admits the device (CONNACK 0); any refusal, TLS or MQTT, is false. */
async function admitted(broker: string, ca: string[], id: string, bundle: Bundle): Promise<boolean> {
  const client = mqtt.connect(broker, {
    clientId: id, ca, cert: bundle.certificate + bundle.chain, key: bundle.privateKey, rejectUnauthorized: true,
    reconnectPeriod: 0, connectTimeout: 10_000, protocolVersion: 4,
  });
  const result = await new Promise<boolean>((resolve) => {
    client.once('connect', () => resolve(true));
    client.once('error', () => resolve(false));
    client.once('close', () => resolve(false));
  });
  await client.endAsync(true).catch(() => undefined);
  return result;
}

t.test('provisioner and broker follow a Sentinel failover: nothing acknowledged lost, no revoked device admitted, no exit', async (t) => {
  const sentinel = await startSentinel(t);
  const dir = join(tempDir(t), 'data');
  initDataDir({ dir, name: 'Sentinel Test' });
  const ca = readCaPems(dir);
  const store = ['--dir', dir, '--store', sentinel.url, '--log-level', 'warn'];
  const provisioner = startService(t, ['provisioner', '--port', '0', '--device-burst', '100', '--ip-burst', '1000', ...store]);
  const broker = startService(t, ['broker', '--port', '0', '--metrics-port', '-1', ...store]);
  const [p, b] = await Promise.all([provisioner.started, broker.started]);
  const api = new ApiClient({ url: String(p.url), token: readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim(), ca, retrySeconds: 60, onRetry: () => undefined });
  t.teardown(() => api.close());

  /** Registers and enrolls `ids` (bundles), revokes the first; everything acknowledged is recorded. */
  const acknowledged = { devices: [] as string[], serials: [] as string[], revoked: [] as string[] };
  const bundles = new Map<string, Bundle>();
  const round = async (ids: string[]) => {
    const { devices } = await api.json<{ devices: { id: string; token: string }[] }>('POST', '/v1/devices', { ids });
    acknowledged.devices.push(...ids);
    for (const d of devices) {
      const bundle = await api.json<Bundle>('POST', `/v1/devices/${d.id}/bundle`, { token: d.token, password: 'password-1234' });
      bundles.set(d.id, bundle);
      acknowledged.serials.push(bundle.serial);
    }
    await api.json('POST', `/v1/devices/${ids[0]}/revoke`, { reason: 'keyCompromise' });
    acknowledged.revoked.push(ids[0]!);
  };

  await round(['before-1', 'before-2', 'before-3']);
  t.equal(provisioner.events('store-write-unreplicated').length, 0, 'before the kill every durable write was acknowledged by the replica before its answer');
  const oldPrimary = await sentinel.primaryPort();
  const newPrimary = await sentinel.killPrimary();
  t.not(newPrimary, oldPrimary, `Sentinel promoted the replica (${oldPrimary} -> ${newPrimary})`);

  // The services find the new primary by themselves; a read (retried on 503) rides out the switch,
  // then the registrations, which are not retried, go ahead.
  await api.json('GET', '/v1/status');
  await round(['after-1', 'after-2', 'after-3']);

  const listed = await api.json<{ devices: { id: string; status: string }[] }>('GET', '/v1/devices?limit=100');
  const byId = new Map(listed.devices.map((d) => [d.id, d.status]));
  const lost = acknowledged.devices.filter((id) => !byId.has(id));
  t.same(lost, [], `registrations lost: ${lost.length} of ${acknowledged.devices.length}`);
  const certificates = (await Promise.all(acknowledged.devices.map((id) =>
    api.json<{ certificates: { serial: string; revoked: boolean }[] }>('GET', `/v1/devices/${id}`)))).flatMap((d) => d.certificates);
  const serials = new Set(certificates.map((c) => c.serial));
  t.equal(acknowledged.serials.filter((s) => !serials.has(s)).length, 0, `certificates lost: 0 of ${acknowledged.serials.length}`);
  t.same(acknowledged.revoked.filter((id) => byId.get(id) !== 'revoked'), [], `revocations lost: 0 of ${acknowledged.revoked.length}`);

  const mqtts = String(b.mqtts);
  // The broker's cluster and store connections may still be settling on the new primary: poll.
  for (const id of ['before-2', 'after-2']) {
    await until(() => admitted(mqtts, ca, id, bundles.get(id)!), 30_000, `${id} admitted`);
    t.pass(`${id} (active) is admitted after the failover`);
  }
  // Asked once the broker admits again, so a refusal here is the revocation, not the store.
  let revokedAdmitted = 0;
  for (const id of acknowledged.revoked) if (await admitted(mqtts, ca, id, bundles.get(id)!)) revokedAdmitted++;
  t.equal(revokedAdmitted, 0, 'revoked devices admitted: 0');
  t.ok(alive(provisioner) && alive(broker), 'processes exited: 0');
  // After the failover no replica is left (the old primary is dead): those writes are applied and each reported, not silent.
  t.comment(`durable writes after the failover with no replica left, logged store-write-unreplicated: ${provisioner.events('store-write-unreplicated').length}`);
});
