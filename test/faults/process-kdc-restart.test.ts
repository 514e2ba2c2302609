import t from 'tap';
import { exited } from '../helpers/spawn-ts.js';
import { startTcpProxy } from '../helpers/tcp-proxy.js';
import { startKdcProcess, type KdcProcess } from '../kdc/kdc-process.js';
import { assertRotationCompleted, kdcRotationRig, ROTATION_BATCH } from './process-kdc-rotation.js';

// Issue 18, "a KDC SIGKILLed mid-rotation is replaced", by a restart of the same KDC (same name, data
// dir and high-water mark; its persistent session kept the acks sent while it was down): one KDC and
// one broker on Redis (child processes), 100 devices, the KDC SIGKILLed while it distributes. The
// restarted KDC first finds its broker unreachable (a proxy in front of it refuses connections): it
// waits and tries again instead of exiting, and completes the rotation once the broker is reachable.

const DEVICES = 100;
const NEW_EPOCH = 2;

t.test('the only KDC SIGKILLed mid-rotation and restarted: it waits for its broker, completes the rotation; every device acks, no grant number reused', async (t) => {
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
  rig.resumeBroker();
  t.equal((await rig.store.getEpoch(NEW_EPOCH))?.state, 'distributing', 'killed before the epoch was distributed');
  t.ok(atKill < DEVICES, `killed mid-distribution: ${atKill} of ${DEVICES} grants of epoch ${NEW_EPOCH} numbered`);

  // The devices keep their direct connections; only the restarted KDC goes through the proxy.
  const args = rig.kdcArgs('a');
  const brokerUrl = new URL(args[args.indexOf('--broker') + 1]!);
  const proxy = await startTcpProxy(t, Number(brokerUrl.port));
  proxy.cut();
  brokerUrl.port = String(proxy.port);
  args[args.indexOf('--broker') + 1] = brokerUrl.href;
  const restartedAt = Date.now();
  const again = await startKdcProcess(t, args, 'broker-waiting');
  proxy.heal();
  const reached = await again.next('broker-reached', 60_000);
  await assertRotationCompleted(t, rig, NEW_EPOCH, [again]);
  t.ok(again.count('rotation-resumed') + again.count('rotation-takeover') >= 1, 'the restarted KDC resumed the rotation');
  t.comment(`broker reached after ${String(reached.attempts)} attempts; completed ${Date.now() - restartedAt} ms after the restart; rotation-resumed ${again.count('rotation-resumed')}, rotation-takeover ${again.count('rotation-takeover')}`);
  t.equal(again.child.exitCode ?? again.child.signalCode, null, 'the restarted KDC waited for its broker instead of exiting, and is still running');
});

