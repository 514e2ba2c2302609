import t from 'tap';
import { exited } from '../helpers/spawn-ts.js';
import { startKdcProcess, type KdcProcess } from '../kdc/kdc-process.js';
import { until } from './store-services-process.js';
import { assertRotationCompleted, kdcRotationRig, ROTATION_BATCH } from './process-kdc-rotation.js';

// Issue 18, "a KDC SIGKILLed mid-rotation is replaced", by a restart of the same KDC (same name, data
// dir and high-water mark; its persistent session kept the acks sent while it was down): one KDC and
// one broker on Redis (child processes), 120 devices, the KDC SIGKILLed while it distributes.

const DEVICES = 120;
const NEW_EPOCH = 2;

t.test('the only KDC SIGKILLed mid-rotation and restarted: it completes the rotation; every device acks, no grant number reused', async (t) => {
  let first: KdcProcess | undefined;
  const rig = await kdcRotationRig(t, DEVICES, async (args) => {
    first = await startKdcProcess(t, args('a'));
  });
  rig.pauseBroker();
  await rig.requestRotation(2);
  await first!.next('rotation-started');
  await rig.numbered(NEW_EPOCH, ROTATION_BATCH);
  first!.child.kill('SIGKILL');
  const atKill = (await rig.store.epochProgress(NEW_EPOCH)).granted;
  t.equal((await exited(first!.child)).signal, 'SIGKILL', 'the KDC was SIGKILLed');
  t.equal((await rig.store.getEpoch(NEW_EPOCH))?.state, 'distributing', 'killed before the epoch was distributed');
  t.ok(atKill < DEVICES, `killed mid-distribution: ${atKill} of ${DEVICES} grants of epoch ${NEW_EPOCH} numbered`);

  // The broker has ended the dead KDC's connection before the same client id connects again.
  await until(() => rig.broker.events('disconnect').some((l) => l.clientId === 'kdc-a'), 30_000, 'the broker to see kdc-a gone');
  const restartedAt = Date.now();
  const again = await startKdcProcess(t, rig.kdcArgs('a'));
  await assertRotationCompleted(t, rig, NEW_EPOCH, [again]);
  t.ok(again.count('rotation-resumed') + again.count('rotation-takeover') >= 1, 'the restarted KDC resumed the rotation');
  t.comment(`completed ${Date.now() - restartedAt} ms after the restart; rotation-resumed ${again.count('rotation-resumed')}, rotation-takeover ${again.count('rotation-takeover')}`);
  t.equal(again.child.exitCode ?? again.child.signalCode, null, 'the restarted KDC is still running');
});
