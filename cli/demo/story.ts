import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { demoDeviceIds, registerFleet, type DemoFleet } from './fleet.js';
import { StepRecorder, type DemoReport, type StepOutcome } from './report.js';
import { describeAnswer, revokeDevice, tryReenroll, type RevocationResult } from './revoke.js';
import { rotateAndWait, type RotationResult } from './rotate.js';
import { initDemoDir, startDemoStack, type DemoStack } from './stack.js';
import { settle, startDemoConsumer, type DemoConsumer } from './telemetry.js';

export interface DemoOptions {
  readonly devices: number;
  /** Telemetry messages per second per device. */
  readonly rate: number;
  /** Seconds from a rotation to the devices switching keys. */
  readonly switchAfterSeconds: number;
  /** Longest wait for a session cut after a revocation, ms (the promise is 1 s). */
  readonly cutWithinMs: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The whole story on a temporary data dir (removed at the end): init, the stack, a consumer,
 * devices registered, enrolled, connected and keyed, telemetry opened, two rotations, one device
 * revoked (cut, refused, left out of the next epoch), then the accounting of every message.
 */
export async function runDemo(opts: DemoOptions, logger: Logger, progress: (line: string) => void): Promise<DemoReport> {
  const started = performance.now();
  const steps = new StepRecorder(progress);
  const dir = mkdtempSync(join(tmpdir(), 'fleetkey-demo-'));
  let stack: DemoStack | undefined;
  let consumer: DemoConsumer | undefined;
  let fleet: DemoFleet | undefined;
  const rotations: RotationResult[] = [];
  let revocation: RevocationResult | undefined;
  let refused = false;
  let keyedAfter: boolean | undefined;
  let lost = 0;
  let fleetStopped = false;
  const victim = demoDeviceIds(opts.devices)[Math.floor(opts.devices / 2)]!;
  const all = () => fleet!.ids.length;
  // Each step needs the ones before it: after a failure the rest are listed as not run.
  const chain: Array<[string, () => Promise<StepOutcome>]> = [
    ['init a data dir', async () => {
      initDemoDir(dir);
      return { detail: `CA, service certificates and KEK in ${dir}` };
    }],
    ['start provisioner, broker, KDC', async () => {
      stack = await startDemoStack(dir, logger, opts.switchAfterSeconds);
      return { detail: `EST/REST ${stack.provisionerUrl}, MQTTS ${stack.brokerUrl}` };
    }],
    ['consumer gets the epoch key', async () => {
      consumer = await startDemoConsumer(dir, stack!.brokerUrl, logger);
      return { detail: `${consumer.consumer.clientId} holds epoch ${consumer.consumer.stats().epochs.join(', ')}` };
    }],
    [`register ${opts.devices} devices (REST)`, async () => {
      fleet = await registerFleet(stack!, opts.devices, opts.rate);
      return { ok: fleet.ids.length === opts.devices, detail: `${fleet.ids.length} one-time tokens`, figures: { registered: fleet.ids.length } };
    }],
    ['enroll over EST (own key + CSR)', async () => {
      fleet!.sim.start();
      await waitFor(() => fleet!.sim.progress().enrolled + fleet!.sim.progress().failed >= all(), 30_000);
      const p = fleet!.sim.progress();
      return { ok: p.enrolled === all(), detail: `${p.enrolled}/${all()} certificates issued`, figures: { enrolled: p.enrolled } };
    }],
    ['connect over mutual TLS, get keys', async () => {
      const ready = await fleet!.sim.ready(30_000);
      const p = fleet!.sim.progress();
      return { ok: ready && p.keyed === all(), detail: `${p.connected} connected, ${p.keyed} keyed`, figures: { connected: p.connected, keyed: p.keyed } };
    }],
    ['telemetry opened by the consumer', async () => {
      const epoch = consumer!.consumer.stats().epochs.at(-1) ?? 0;
      await waitFor(() => consumer!.devicesIn(epoch).size >= all(), 10_000);
      const n = consumer!.devicesIn(epoch).size;
      return { ok: n === all(), detail: `messages of ${n}/${all()} devices opened, ${consumer!.opened.size} so far` };
    }],
    ...[1, 2].map((n): [string, () => Promise<StepOutcome>] => [`rotation ${n}`, async () => {
      const r = await rotateAndWait(stack!.api, opts.switchAfterSeconds, 30_000, progress);
      rotations.push(r);
      // The devices switch at nbf: wait for it, then for telemetry under the new epoch from each of them.
      await sleep(Math.max(0, r.activatesAt - Date.now()));
      await waitFor(() => consumer!.devicesIn(r.epoch).size >= all(), 10_000);
      const opened = consumer!.devicesIn(r.epoch).size;
      return {
        ok: r.complete && r.granted === all() && opened === all(),
        detail: `epoch ${r.epoch}: ${r.acked}/${r.granted} acked in ${r.ms} ms; ${opened} devices switched`,
        figures: { epoch: r.epoch, granted: r.granted, acked: r.acked, ms: r.ms },
      };
    }]),
    [`revoke ${victim}: session cut within 1 s`, async () => {
      revocation = await revokeDevice(stack!, fleet!, victim, 5000);
      const ok = revocation.cutMs !== null && revocation.cutMs <= opts.cutWithinMs;
      return {
        ok, detail: `cut after ${revocation.cutMs ?? '-'} ms; device ${revocation.stage}${revocation.failure ? ` (${revocation.failure})` : ''}`,
        figures: { cutMs: revocation.cutMs ?? -1 },
      };
    }],
    [`${victim} re-enroll refused`, async () => {
      const r = await tryReenroll(stack!, fleet!, victim);
      refused = !r.reenroll.ok && !r.enroll.ok;
      return { ok: refused, detail: `simplereenroll: ${describeAnswer(r.reenroll)}; simpleenroll: ${describeAnswer(r.enroll)}` };
    }],
    [`next epoch: no key for ${victim}`, async () => {
      const r = await rotateAndWait(stack!.api, opts.switchAfterSeconds, 30_000, progress);
      rotations.push(r);
      const keyed = new Set(fleet!.keyedIn(r.epoch));
      keyedAfter = keyed.has(victim);
      const others = fleet!.ids.filter((id) => id !== victim);
      const allOthers = others.every((id) => keyed.has(id));
      return {
        ok: r.complete && r.granted === others.length && allOthers && !keyedAfter,
        detail: `epoch ${r.epoch}: ${r.acked}/${r.granted} acked in ${r.ms} ms; ${keyed.size} devices keyed, ${victim} ${keyedAfter ? 'KEYED' : 'not'}`,
        figures: { epoch: r.epoch, granted: r.granted, acked: r.acked, ms: r.ms },
      };
    }],
    ['every message accounted for', async () => {
      await sleep(Math.max(0, (rotations.at(-1)?.activatesAt ?? 0) - Date.now()) + 500);
      fleetStopped = true;
      await fleet!.sim.stop(5000);
      const missing = await settle(consumer!, fleet!, new Set([victim]), 5000);
      lost = missing.length;
      const s = consumer!.consumer.stats();
      return {
        ok: lost === 0 && s.undecryptable === 0,
        detail: `${fleet!.sim.counters.sent} sent, ${s.opened} opened, ${s.duplicate} duplicate, ${s.undecryptable} undecryptable, ${lost} lost`,
        figures: { lost, undecryptable: s.undecryptable },
      };
    }],
  ];
  try {
    for (const [name, body] of chain) {
      if (!steps.ok) steps.skip(name);
      else await steps.run(name, body);
    }
  } finally {
    if (fleet && !fleetStopped) await fleet.sim.stop(0).catch(() => undefined);
    await consumer?.consumer.close().catch(() => undefined);
    await stack?.close();
    rmSync(dir, { recursive: true, force: true });
  }
  const s = consumer?.consumer.stats();
  return {
    ok: steps.ok,
    devices: opts.devices,
    seconds: Math.round((performance.now() - started) / 100) / 10,
    steps: steps.steps,
    figures: {
      sent: fleet?.sim.counters.sent ?? 0,
      opened: s?.opened ?? 0,
      duplicate: s?.duplicate ?? 0,
      undecryptable: s?.undecryptable ?? 0,
      lost,
      rotationMs: rotations.map((r) => r.ms),
    },
    revoked: revocation ? { deviceId: victim, cutMs: revocation.cutMs, reenrollRefused: refused, keyedInNextEpoch: keyedAfter ?? false } : null,
  };
}

async function waitFor(check: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check() && Date.now() < deadline) await sleep(50);
}
