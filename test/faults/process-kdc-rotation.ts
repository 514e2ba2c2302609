import { join } from 'node:path';
import type { Test } from 'tap';
import { loadFleetCa } from '../../certs/ca-files.js';
import { deriveSessionKey } from '../../protocol/session-key.js';
import { rotationRequestAudit } from '../../store/records.js';
import { IDENTITY_FILE } from '../../store/identity.js';
import { openStore } from '../../store/index.js';
import type { Store } from '../../store/types.js';
import { startRedis } from '../helpers/redis.js';
import { readFileSync } from 'node:fs';
import type { KdcProcess } from '../kdc/kdc-process.js';
import { faultFleet } from './broker-cluster.js';
import { RekeyDevice } from './rekey-device.js';
import { startService, until, type ServiceProcess } from './store-services-process.js';

const PREFIX = 'fleetkey:'; // the services' default --store-prefix
const CONNECT_AT_ONCE = 20;
export const ROTATION_BATCH = 25;

/** A broker process on Redis, `n` devices keyed on epoch 1 by request, and the arguments of a KDC on them. */
export interface KdcRotationRig {
  readonly store: Store;
  readonly devices: RekeyDevice[];
  readonly kek: Buffer;
  readonly broker: ServiceProcess;
  kdcArgs(name: string): string[];
  /** What `POST /v1/rotations` does: the audit entry a KDC that missed the event reads back, then the event. */
  requestRotation(switchAfterSeconds: number): Promise<void>;
  /** Devices that accepted a grant of `epoch`. */
  holders(epoch: number): number;
  /**
   * Resolves once the store has numbered `k` grants of `epoch` (numbers are persisted before each grant
   * is sent, and the devices in this process verify grants more slowly than a KDC sends them).
   */
  numbered(epoch: number, k: number): Promise<void>;
  /** SIGSTOP / SIGCONT the broker process: a KDC publishing to it then waits for its PUBACKs. */
  pauseBroker(): void;
  resumeBroker(): void;
}

export async function kdcRotationRig(t: Test, n: number, start: (args: (name: string) => string[]) => Promise<unknown>): Promise<KdcRotationRig> {
  const redis = await startRedis(t);
  const fleet = await faultFleet(t);
  const broker = startService(t, ['broker', '--dir', fleet.dir, '--store', redis.url, '--port', '0', '--metrics-port', '-1', '--log-level', 'info']);
  const brokerUrl = String((await broker.started).mqtts);
  const store = await openStore(redis.url, { prefix: PREFIX, identity: join(fleet.dir, IDENTITY_FILE) });
  t.teardown(() => store.close());
  const root = loadFleetCa(join(fleet.dir, 'ca')).root.certificate.x509;
  // 25 devices per rotation step: with the broker paused, a KDC stops after numbering two steps and
  // sending the first (it waits for PUBACKs), a state to kill it in that does not depend on timing.
  const kdcArgs = (name: string) => ['--dir', fleet.dir, '--store', redis.url, '--broker', brokerUrl, '--name', name, '--rotation-batch', String(ROTATION_BATCH), '--switch-after', '2'];
  await start(kdcArgs);
  const ids = Array.from({ length: n }, (_, i) => `pk-${String(i).padStart(4, '0')}`);
  // Registered one at a time: certificates issued in a burst keep this process's event loop from
  // reading Redis's answers for longer than the store's command timeout on a loaded machine.
  const credentials = [];
  for (const id of ids) credentials.push(await fleet.device(store, id));
  const devices: RekeyDevice[] = [];
  for (let i = 0; i < n; i += CONNECT_AT_ONCE) {
    devices.push(...await Promise.all(credentials.slice(i, i + CONNECT_AT_ONCE).map((options) => RekeyDevice.connect(t, brokerUrl, { ...options, connectTimeout: 30_000 }, root))));
  }
  await Promise.all(devices.map((d) => d.next((g) => g.epoch === 1, 60_000)));
  const holders = (epoch: number) => devices.filter((d) => d.accepted.some((g) => g.epoch === epoch)).length;
  return {
    store, devices, broker, kek: readFileSync(join(fleet.dir, 'kek')), kdcArgs, holders,
    async requestRotation(switchAfterSeconds) {
      const current = await store.currentEpoch();
      await store.appendAudit({ actor: 'test', action: rotationRequestAudit.action, subject: rotationRequestAudit.subject((current?.epoch ?? 0) + 1), detail: { switchAfterSeconds } });
      await store.publish({ type: 'rotate-requested', requestedBy: 'test', switchAfterSeconds });
    },
    pauseBroker: () => broker.child.kill('SIGSTOP'),
    resumeBroker: () => broker.child.kill('SIGCONT'),
    numbered: (epoch, k) => until(async () => (await store.epochProgress(epoch).catch(() => ({ granted: 0 }))).granted >= k, 60_000, `${k} grants of epoch ${epoch} numbered`),
  };
}

/**
 * The rotation of `epoch` completed after its distributor was killed: every device accepted and acked
 * it, one epoch was made, each key derives from the epoch's one secret, and no (device, epoch, grant)
 * reached a device twice; repeats of the epoch are refused as not newer, nothing else.
 */
export async function assertRotationCompleted(t: Test, rig: KdcRotationRig, epoch: number, survivors: KdcProcess[]): Promise<void> {
  const { store, devices } = rig;
  const n = devices.length;
  await until(() => rig.holders(epoch) === n, 60_000, `every device holding epoch ${epoch}`);
  await until(async () => (await store.getEpoch(epoch))?.state === 'distributed', 30_000, `epoch ${epoch} distributed`);
  await until(async () => (await store.epochProgress(epoch)).acked === n, 30_000, `every ack of epoch ${epoch} recorded`);
  t.same(await store.epochProgress(epoch), { epoch, granted: n, acked: n }, `epoch ${epoch}: ${n} of ${n} devices granted and acked`);
  t.equal((await store.currentEpoch())?.epoch, epoch, 'one new epoch, not two');

  const secret = (await store.epochSecret(epoch, rig.kek))!;
  const grants = devices.flatMap((d) => d.receipts.map((r) => ({ id: d.id, grant: r.grant, refused: r.refused })));
  const triples = grants.map(({ id, grant }) => `${id}/${grant.epoch}/${grant.grant}`);
  t.equal(triples.length - new Set(triples).size, 0, `every (device, epoch, grant) unique: ${triples.length} grants received, as the devices decoded them`);
  const foreign = grants.filter(({ id, grant }) => grant.epoch === epoch && !deriveSessionKey(secret, id, epoch, grant.grant!).equals(grant.key));
  t.equal(foreign.length, 0, `every epoch ${epoch} key derives from the one secret of epoch ${epoch}`);
  const repeats = grants.filter((g) => g.grant.epoch === epoch && g.refused !== undefined);
  t.same([...new Set(repeats.map((g) => g.refused))].filter((c) => c !== 'GRANT_NOT_NEWER'), [], 'a repeated grant of the epoch is refused as not newer, nothing else');
  t.comment(`${repeats.length} device(s) got epoch ${epoch} again from the KDC that took over (refused as not newer; their first grant was acked)`);
  t.same(devices.flatMap((d) => d.unverified), [], 'every grant verified');
  t.equal(devices.reduce((k, d) => k + d.closes, 0), 0, 'device sessions dropped = 0');
  t.same(survivors.map((k) => k.count('rotation-failed')), survivors.map(() => 0), 'no rotation failed');
}
