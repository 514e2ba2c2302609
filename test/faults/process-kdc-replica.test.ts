import t from 'tap';
import { exited } from '../helpers/spawn-ts.js';
import { startKdcProcess, type KdcProcess } from '../kdc/kdc-process.js';
import { assertRotationCompleted, kdcRotationRig, ROTATION_BATCH } from './process-kdc-rotation.js';

// Issue 18, "a KDC SIGKILLed mid-rotation is replaced": two KDC replicas on one Redis store and one
// broker (child processes), 120 devices; the replica that started the rotation is SIGKILLed while it
// distributes (after the first devices got the new epoch), and the other one takes the rotation over
// once the dead one's lease runs out, granting only the devices that had not acked.

const DEVICES = 120;
const NEW_EPOCH = 2;

t.test('a KDC replica SIGKILLed mid-rotation: the other completes it; every device acks, no grant number reused', async (t) => {
  const kdcs: KdcProcess[] = [];
  const rig = await kdcRotationRig(t, DEVICES, async (args) => {
    kdcs.push(await startKdcProcess(t, args('a')));
    kdcs.push(await startKdcProcess(t, args('b')));
  });
  rig.pauseBroker();
  await rig.requestRotation(2);
  const distributor = await Promise.race(kdcs.map((k) => k.next('rotation-started').then(() => k)));
  const replica = kdcs.find((k) => k !== distributor)!;
  await rig.numbered(NEW_EPOCH, ROTATION_BATCH);
  distributor.child.kill('SIGKILL');
  const killedAt = Date.now();
  const atKill = (await rig.store.epochProgress(NEW_EPOCH)).granted;
  t.equal((await exited(distributor.child)).signal, 'SIGKILL', 'the distributing replica was SIGKILLed');
  rig.resumeBroker();
  t.equal((await rig.store.getEpoch(NEW_EPOCH))?.state, 'distributing', 'killed before the epoch was distributed');
  t.ok(atKill < DEVICES, `killed mid-distribution: ${atKill} of ${DEVICES} grants of epoch ${NEW_EPOCH} numbered`);

  await assertRotationCompleted(t, rig, NEW_EPOCH, [replica]);
  t.ok(replica.count('rotation-resumed') + replica.count('rotation-takeover') >= 1, 'the other replica took the rotation over');
  t.comment(`taken over and completed ${Date.now() - killedAt} ms after the kill (lease 10 s); replica events: rotation-resumed ${replica.count('rotation-resumed')}, rotation-takeover ${replica.count('rotation-takeover')}`);
  t.equal(replica.child.exitCode ?? replica.child.signalCode, null, 'the replica is still running');
});
