import t from 'tap';
import type { SimEvent } from '../../device-sim/index.js';
import { openedReadings, sealedReadings, simStack, until } from './stack.js';

const DEVICES = 20;
type Sealed = Extract<SimEvent, { type: 'sealed' }>;
type Granted = Extract<SimEvent, { type: 'granted' }>;

/**
 * "No message sealed under a key it should not use", per device, from the device's own events:
 * every envelope is sealed under a grant that device accepted before; keys only move forward;
 * within one key seq counts 0, 1, 2, … with no (key, seq) twice.
 */
function keyMisuse(events: readonly SimEvent[]): string[] {
  const problems: string[] = [];
  const accepted = new Map<string, Set<string>>();
  const last = new Map<string, { epoch: number; grant: number; seq: bigint }>();
  for (const e of events) {
    if (e.type === 'granted') {
      const set = accepted.get(e.deviceId) ?? new Set();
      accepted.set(e.deviceId, set.add(`${e.epoch}/${e.grant}`));
    }
    if (e.type !== 'sealed') continue;
    if (!accepted.get(e.deviceId)?.has(`${e.epoch}/${e.grant}`)) problems.push(`${e.deviceId}: sealed under ${e.epoch}/${e.grant}, never granted to it`);
    const prev = last.get(e.deviceId);
    if (prev) {
      const sameKey = prev.epoch === e.epoch && prev.grant === e.grant;
      const older = e.epoch < prev.epoch || (e.epoch === prev.epoch && e.grant < prev.grant);
      if (older) problems.push(`${e.deviceId}: went back from ${prev.epoch}/${prev.grant} to ${e.epoch}/${e.grant}`);
      if (sameKey && e.seq !== prev.seq + 1n) problems.push(`${e.deviceId}: seq ${prev.seq} then ${e.seq} under ${e.epoch}/${e.grant}`);
      if (!sameKey && !older && e.seq !== 0n) problems.push(`${e.deviceId}: new key ${e.epoch}/${e.grant} starts at seq ${e.seq}`);
    }
    last.set(e.deviceId, e);
  }
  return problems;
}

t.test('after a broker restart every device is back within 30 s, re-keyed, and never seals under a key it should not use', async (t) => {
  const stack = await simStack(t);
  const ids = Array.from({ length: DEVICES }, (_, i) => `rs-${String(i).padStart(2, '0')}`);
  const sim = stack.fleet(await stack.register(ids), { rate: 4 });
  sim.start();
  t.ok(await sim.ready(30_000), 'every device connected with a key');
  await new Promise((resolve) => setTimeout(resolve, 1000));

  const before = stack.events.length;
  const restartedAt = Date.now();
  await stack.restartBroker(t, 1000);
  const reconnected = () => sim.devices.filter((d) => stack.events.slice(before).some((e) => e.type === 'connected' && e.deviceId === d.id));
  const rekeyed = () => ids.filter((id) => stack.events.slice(before).some((e) => e.type === 'granted' && e.deviceId === id && e.req !== undefined));
  await until(() => reconnected().length === DEVICES && rekeyed().length === DEVICES, 30_000, 'every device reconnected and re-keyed');
  const backMs = Date.now() - restartedAt;
  t.ok(backMs < 30_000, `all ${DEVICES} devices back and re-keyed ${backMs} ms after the restart began`);

  const drops = stack.events.slice(before).filter((e) => e.type === 'disconnected').length;
  t.ok(drops >= DEVICES, 'every device saw its connection drop');

  const afterBack = stack.events.length;
  await new Promise((resolve) => setTimeout(resolve, 1500));
  const report = await sim.stop();
  t.same(keyMisuse(stack.events), [], 'every envelope sealed under a key granted to its device, in order');
  const postGrants = stack.events.slice(before).filter((e): e is Granted => e.type === 'granted');
  for (const id of ids) {
    const newest = postGrants.filter((g) => g.deviceId === id).at(-1)!;
    const laterSeals = stack.events.slice(afterBack).filter((e): e is Sealed => e.type === 'sealed' && e.deviceId === id);
    if (laterSeals.some((s) => s.epoch !== newest.epoch || s.grant !== newest.grant)) t.fail(`${id} sealed under an old key after its new grant`);
  }
  t.equal(report.connections.reconnects, DEVICES, 'one reconnect per device');
  t.same(report.failed, {}, 'no device ended in error');

  // The consumer reconnects too; whatever it received opened cleanly, and everything sealed once all were back arrived.
  const sealedLate = new Set(sealedReadings(stack.events.slice(afterBack)));
  await until(() => [...sealedLate].every((r) => openedReadings(stack.opened).includes(r)), 10_000, 'messages sealed after recovery opened');
  t.match(stack.consumer.stats(), { undecryptable: 0, replay: 0 }, 'the consumer saw nothing undecryptable or replayed');
  t.comment(JSON.stringify({ backMs, reconnects: report.connections.reconnects, errors: report.errors, republished: report.messages.republished }));
});
