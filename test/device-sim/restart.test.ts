import { join } from 'node:path';
import t from 'tap';
import type { Test } from 'tap';
import { loadFleetCa } from '../../certs/ca.js';
import { initDataDir } from '../../certs/init.js';
import { createFleet, makeBundle, recordBundles, trustOf, type SimEvent } from '../../device-sim/index.js';
import { openStore } from '../../store/index.js';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { sealedReadings, until } from './stack.js';

const DEVICES = 20;
type Sealed = Extract<SimEvent, { type: 'sealed' }>;

/**
 * "No message sealed under a key it should not use", per device, from the device's own events:
 * every envelope is sealed under a grant that device accepted before; keys only move forward; within
 * one key seq counts 0, 1, 2, … so no (key, seq) is used twice.
 */
function keyMisuse(events: readonly SimEvent[]): string[] {
  const problems: string[] = [];
  const accepted = new Map<string, Set<string>>();
  const last = new Map<string, Sealed>();
  for (const e of events) {
    if (e.type === 'granted') accepted.set(e.deviceId, (accepted.get(e.deviceId) ?? new Set<string>()).add(`${e.epoch}/${e.grant}`));
    if (e.type !== 'sealed') continue;
    if (!accepted.get(e.deviceId)?.has(`${e.epoch}/${e.grant}`)) problems.push(`${e.deviceId}: sealed under ${e.epoch}/${e.grant}, never granted to it`);
    const prev = last.get(e.deviceId);
    if (prev) {
      const sameKey = prev.epoch === e.epoch && prev.grant === e.grant;
      const older = e.epoch < prev.epoch || (e.epoch === prev.epoch && e.grant < prev.grant);
      if (older) problems.push(`${e.deviceId}: went back from ${prev.epoch}/${prev.grant} to ${e.epoch}/${e.grant}`);
      else if (sameKey ? e.seq !== prev.seq + 1n : e.seq !== 0n) problems.push(`${e.deviceId}: seq ${e.seq} after ${prev.seq} under ${e.epoch}/${e.grant}`);
    } else if (e.seq !== 0n) problems.push(`${e.deviceId}: first seal at seq ${e.seq}`);
    last.set(e.deviceId, e);
  }
  return problems;
}

/** `fleetkey up` (broker + KDC, embedded store) in a child: resolves with its MQTT port once it listens. */
async function startUp(t: Test, dir: string, port: number) {
  const child = spawnTs(t, 'cli/main.ts', ['up', '--dir', dir, '--mqtt-port', String(port), '--https-port', '0', '--metrics-port', '-1', '--log-level', 'warn', '--json']);
  const mqtts = await new Promise<string>((resolve, reject) => {
    onLine(child, (line) => {
      if (line.includes('"mqtts"')) resolve((JSON.parse(line) as { mqtts: string }).mqtts);
    });
    child.once('exit', (code) => reject(new Error(`fleetkey up exited with ${code}`)));
  });
  return { child, url: mqtts, port: Number(new URL(mqtts).port) };
}

/** `fleetkey tail`: one line per opened message; collects device#reading and e/g per line. */
function startTail(t: Test, dir: string, url: string, opened: Array<{ reading: string; key: string }>) {
  const child = spawnTs(t, 'cli/main.ts', ['tail', '--dir', dir, '--broker', url, '--log-level', 'warn']);
  onLine(child, (line) => {
    const m = /^\S+ (\S+) e(\d+)\/g(\d+) #\d+ (\{.*\})$/.exec(line);
    if (m) opened.push({ reading: `${m[1]}#${(JSON.parse(m[4]!) as { seq: number }).seq}`, key: `${m[1]}:${m[2]}/${m[3]}` });
  });
  return child;
}

t.test('fleetkey up killed and restarted: every device is back within 30 s, re-keyed, never sealing under a key it should not use', async (t) => {
  const dir = tempDir(t);
  initDataDir({ dir, name: 'restart test' });
  const ca = loadFleetCa(join(dir, 'ca'));
  const trust = trustOf(ca);
  const bundles = Array.from({ length: DEVICES }, (_, i) => makeBundle(ca, `rs-${String(i).padStart(2, '0')}`, { trust }));
  const store = await openStore(`file:${dir}`);
  await recordBundles(store, bundles);
  await store.close();

  let up = await startUp(t, dir, 0);
  const opened: Array<{ reading: string; key: string }> = [];
  let tail = startTail(t, dir, up.url, opened);
  const events: SimEvent[] = [];
  const sim = createFleet({
    brokerUrl: up.url, trust, devices: bundles.map((b) => ({ id: b.id, identity: b.identity })), rate: 4,
    backoff: { baseMs: 250, capMs: 5000 }, grantTimeoutMs: 3000, observe: (e) => events.push(e),
  });
  t.teardown(() => sim.stop(200));
  sim.start();
  t.ok(await sim.ready(30_000), 'every device connected with a key');
  await new Promise((resolve) => setTimeout(resolve, 1000));

  // A crash, not a shutdown: devices see their connections reset.
  const before = events.length;
  const crashedAt = Date.now();
  up.child.kill('SIGKILL');
  tail.kill('SIGKILL');
  await exited(up.child);
  await new Promise((resolve) => setTimeout(resolve, 1000));
  up = await startUp(t, dir, up.port);
  const rekeyed = (id: string) => events.slice(before).some((e) => e.type === 'granted' && e.deviceId === id && e.req !== undefined);
  await until(() => sim.devices.every((d) => d.stage === 'online' && rekeyed(d.id)), 30_000, 'every device reconnected and re-keyed');
  const backMs = Date.now() - crashedAt;
  t.ok(backMs < 30_000, `all ${DEVICES} devices back and re-keyed ${backMs} ms after the crash`);
  const connects = events.slice(before).filter((e): e is Extract<SimEvent, { type: 'connected' }> => e.type === 'connected').map((e) => e.deviceId);
  t.same(new Set(connects).size, DEVICES, 'every device reconnected');

  const openedBefore = opened.length;
  tail = startTail(t, dir, up.url, opened);
  // tail asks for its epoch grant, then subscribes: wait until it opens messages again (a fixed 3 s was too short under CI load).
  await until(() => opened.length > openedBefore, 30_000, 'fleetkey tail opening messages after the restart');
  await new Promise((resolve) => setTimeout(resolve, 500));
  const from = events.length;
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const to = events.length;
  await new Promise((resolve) => setTimeout(resolve, 500));
  const report = await sim.stop();

  t.same(keyMisuse(events), [], 'every envelope sealed under a key granted to its device, in order, seq never reused');
  t.same(report.failed, {}, 'no device ended in error');
  t.ok(report.connections.reconnects >= DEVICES, 'a reconnect per device');
  const late = sealedReadings(events.slice(from, to));
  t.ok(late.length >= DEVICES * 4, `readings sealed after recovery (${late.length})`);
  await until(() => late.every((r) => opened.some((o) => o.reading === r)), 10_000, 'messages sealed after recovery opened by fleetkey tail');
  const readings = opened.map((o) => o.reading);
  t.equal(new Set(readings).size, readings.length, 'tail opened no message twice');
  const granted = new Set(events.flatMap((e) => (e.type === 'granted' ? [`${e.deviceId}:${e.epoch}/${e.grant}`] : [])));
  t.ok(opened.every((o) => granted.has(o.key)), 'every opened message was sealed under a key granted to its device');
  t.comment(JSON.stringify({ backMs, reconnects: report.connections.reconnects, errors: report.errors, republished: report.messages.republished, opened: opened.length }));
  tail.kill('SIGTERM');
  up.child.kill('SIGTERM');
  await exited(up.child);
});
