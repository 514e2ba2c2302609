import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { loadFleetCa } from '../../certs/ca-files.js';
import { ApiClient } from '../../cli/api-client.js';
import { readCaPems } from '../../cli/data-dir.js';
import { rotateAndWait } from '../../cli/demo/rotate.js';
import { deriveSessionKey } from '../../protocol/session-key.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import { startSentinel } from '../helpers/sentinel.js';
import { startKdcProcess } from '../kdc/kdc-process.js';
import { faultFleet, tryConnect } from './broker-cluster.js';
import { RekeyDevice } from './rekey-device.js';
import { alive, startService, until } from './store-services-process.js';

// The "Sentinel failover mid-rotation": provisioner, broker and KDC (child processes) on
// `redis+sentinel://…`; the primary is SIGKILLed as soon as the KDC logs rotation-started, Sentinel
// promotes the replica, and the rotation finishes by itself on the new primary. One device is revoked
// before the failover, one after it: the last in the KDC's rotation order, and the KDC, which has met
// the dead primary, is held (SIGSTOP) until that revocation is on the new primary, so the rotation
// cannot have reached it first.

const DEVICES = 60;
const PREFIX = 'fleetkey:'; // the services' default --store-prefix
const NEW_EPOCH = 2;

const digest = (secret: Buffer | undefined) => secret && createHash('sha256').update(secret).digest('hex');

t.test('Sentinel failover mid-rotation: the rotation completes by itself; no epoch or grant reused, no revoked device admitted or granted, no exit', async (t) => {
  const sentinel = await startSentinel(t);
  const fleet = await faultFleet(t); // `fleetkey init`
  const { dir } = fleet;
  const common = ['--dir', dir, '--store', sentinel.url, '--log-level', 'info'];
  const provisioner = startService(t, ['provisioner', '--port', '0', ...common]);
  const broker = startService(t, ['broker', '--port', '0', '--metrics-port', '-1', ...common]);
  const [p, b] = await Promise.all([provisioner.started, broker.started]);
  const mqtts = String(b.mqtts);
  const store = await openStore(sentinel.url, { prefix: PREFIX, identity: join(dir, IDENTITY_FILE) });
  t.teardown(() => store.close());
  const kek = readFileSync(join(dir, 'kek'));
  const root = loadFleetCa(join(dir, 'ca')).root.certificate.x509;
  const api = new ApiClient({ url: String(p.url), token: readFileSync(join(dir, 'provisioner/admin.token'), 'utf8').trim(), ca: readCaPems(dir), retrySeconds: 60, onRetry: () => undefined });
  t.teardown(() => api.close());
  const kdc = await startKdcProcess(t, ['--dir', dir, '--store', sentinel.url, '--broker', mqtts, '--rotation-batch', '1', '--switch-after', '1']);

  // Everyone keyed on epoch 1 by request; the device revoked after the failover connects last, so it
  // is last in the KDC's presence order and so in the rotation's.
  const ids = Array.from({ length: DEVICES }, (_, i) => `sr-${String(i).padStart(2, '0')}`);
  const options = new Map(await Promise.all(ids.map(async (id) => [id, await fleet.device(store, id)] as const)));
  const [revokedBefore, revokedAfter] = [ids[0]!, ids[DEVICES - 1]!];
  const devices = await Promise.all(ids.slice(0, -1).map((id) => RekeyDevice.connect(t, mqtts, options.get(id)!, root)));
  await Promise.all(devices.map((d) => d.next(() => true, 30_000)));
  devices.push(await RekeyDevice.connect(t, mqtts, options.get(revokedAfter)!, root));
  await devices.at(-1)!.next(() => true, 30_000);
  const byId = new Map(devices.map((d) => [d.id, d]));
  const epoch1 = digest(await store.epochSecret(1, kek));

  await api.json('POST', `/v1/devices/${revokedBefore}/revoke`, { reason: 'keyCompromise' });
  await until(() => byId.get(revokedBefore)!.closes > 0, 20_000, `the broker to cut ${revokedBefore}`);

  // The operator's `rotate --wait`; the kill as soon as the KDC has created the epoch.
  const said: string[] = [];
  const waited = rotateAndWait(api, 1, 90_000, (line) => said.push(line.trim()));
  const started = await kdc.next('rotation-started');
  const createdSecret = digest(await store.epochSecret(NEW_EPOCH, kek));
  const oldPrimary = await sentinel.primaryPort();
  const failedOver = sentinel.killPrimary();
  const holders = () => devices.filter((d) => d.receipts.some((r) => r.grant.epoch === NEW_EPOCH)).length;
  const atKill = holders();
  const killedAt = Date.now();
  // The KDC meets the dead primary mid-rotation. It is then held still (SIGSTOP) until the revocation
  // is on the new primary, so that the rotation cannot reach the last device first: Sentinel cannot
  // promote before down-after-milliseconds (1 s), and the pause is checked to come before that.
  await kdc.next('rotation-store-unavailable');
  kdc.child.kill('SIGSTOP');
  const pausedBeforePromotion = (await sentinel.primaryPort()) === oldPrimary;
  const newPrimary = await failedOver;
  const promotedMs = Date.now() - killedAt;
  await api.json('POST', `/v1/devices/${revokedAfter}/revoke`, { reason: 'keyCompromise' });
  const atRevocation = holders();
  kdc.child.kill('SIGCONT');
  const resumedAt = Date.now();
  t.ok(pausedBeforePromotion, 'the KDC was held before Sentinel promoted the replica');
  t.notOk(byId.get(revokedAfter)!.receipts.some((r) => r.grant.epoch === NEW_EPOCH), `${revokedAfter} had no grant of epoch ${NEW_EPOCH} when its revocation was stored`);

  const result = await waited;
  t.comment(`rotate --wait: ${said.join(' | ')}`);
  t.comment(`primary ${oldPrimary} killed with ${atKill}/${DEVICES} devices holding epoch ${NEW_EPOCH}; replica ${newPrimary} promoted after ${promotedMs} ms; ${atRevocation} holding when ${revokedAfter} was revoked; rotation complete ${Date.now() - resumedAt} ms after the KDC resumed`);
  t.equal(started.epoch, NEW_EPOCH, `the KDC started epoch ${NEW_EPOCH}`);

  // The rotation completed by itself: one request, no operator step, every live unrevoked device.
  const live = DEVICES - 2;
  t.match(result, { complete: true, epoch: NEW_EPOCH, granted: live, acked: live }, `rotate --wait: epoch ${result.epoch} ${result.acked}/${result.granted} acked in ${result.ms} ms`);
  t.same(await store.epochProgress(NEW_EPOCH), { epoch: NEW_EPOCH, granted: live, acked: live }, `acked = ${DEVICES} devices - 2 revoked`);
  const current = (await store.currentEpoch())!.epoch;
  t.equal(current, NEW_EPOCH, 'no further epoch was created (no recovery rotation)');
  let unfinished = 0;
  for (let e = 1; e <= current; e++) if ((await store.getEpoch(e))?.state !== 'distributed') unfinished += 1;
  t.equal(unfinished, 0, 'rotations left unfinished = 0');

  // Epochs reused = 0: each number has the one secret the KDC created, before and after the failover,
  // and every key a device holds derives from it.
  let reused = 0;
  if (digest(await store.epochSecret(1, kek)) !== epoch1) reused += 1;
  const secret = await store.epochSecret(NEW_EPOCH, kek);
  if (digest(secret) !== createdSecret) reused += 1;
  t.equal(reused, 0, 'epochs reused = 0 (no epoch number with two secrets, read with the KEK before and after the failover)');
  const keys = devices.flatMap((d) => d.receipts.filter((r) => r.grant.epoch === NEW_EPOCH).map((r) => ({ id: d.id, grant: r.grant })));
  const foreign = keys.filter(({ id, grant }) => !deriveSessionKey(secret!, id, NEW_EPOCH, grant.grant!).equals(grant.key));
  t.equal(foreign.length, 0, `every epoch ${NEW_EPOCH} key the devices received (${keys.length}) derives from the secret the KDC created`);

  const triples = devices.flatMap((d) => d.receipts.map((r) => `${d.id}/${r.grant.epoch}/${r.grant.grant}`));
  t.equal(triples.length - new Set(triples).size, 0, `every (device, epoch, grant) triple unique (${triples.length} grants received)`);
  t.same(devices.flatMap((d) => d.receipts.filter((r) => r.refused !== undefined && r.grant.epoch === NEW_EPOCH).map((r) => r.refused)), [], `devices refused no grant of epoch ${NEW_EPOCH}`);
  t.same(devices.flatMap((d) => d.unverified), [], 'every grant verified');

  // Both revoked devices: no grant of the new epoch, and refused at CONNECT.
  const granted = new Set(await store.listGranted(NEW_EPOCH));
  for (const id of [revokedBefore, revokedAfter]) {
    t.notOk(granted.has(id) || byId.get(id)!.receipts.some((r) => r.grant.epoch === NEW_EPOCH), `${id} got no grant of epoch ${NEW_EPOCH}`);
  }
  let admitted = 0;
  const codes: number[] = [];
  for (const id of [revokedBefore, revokedAfter]) {
    const attempt = await tryConnect(t, mqtts, options.get(id)!);
    attempt.client?.end(true);
    codes.push(attempt.code);
    if (attempt.code === 0) admitted += 1;
  }
  t.equal(admitted, 0, `revoked devices admitted = 0 (CONNACK ${codes.join(', ')})`);
  t.same(codes, [5, 5], 'each refused as not authorized');

  const dropped = devices.filter((d) => d.id !== revokedBefore && d.id !== revokedAfter).reduce((n, d) => n + d.closes, 0);
  t.equal(dropped, 0, 'sessions of unrevoked devices dropped by the failover = 0');
  t.equal(kdc.count('rotation-failed'), 0, 'no rotation failed');
  const resent = devices.reduce((n, d) => n + d.requests - 1, 0);
  const stale = devices.reduce((n, d) => n + d.receipts.filter((r) => r.refused !== undefined).length, 0);
  t.comment(`before the rotation: ${resent} rekey requests sent again (unanswered for 3 s), ${stale} answers to an earlier request refused as unsolicited`);
  t.comment(`KDC: rotation-store-unavailable ${kdc.count('rotation-store-unavailable')}, rotation-resumed ${kdc.count('rotation-resumed')}, rotation-takeover ${kdc.count('rotation-takeover')}, epoch-store-behind ${kdc.count('epoch-store-behind')}; store-write-unreplicated: provisioner ${provisioner.events('store-write-unreplicated').length}, KDC ${kdc.count('store-write-unreplicated')}`);
  t.same([provisioner.child, broker.child, kdc.child].map((c) => c.exitCode ?? c.signalCode), [null, null, null], 'processes exited = 0');
  t.ok(alive(provisioner) && alive(broker), 'provisioner and broker still running');
});
