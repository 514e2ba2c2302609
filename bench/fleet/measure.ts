/**
 * One fleet bench run for N devices: broker, KDC and consumer start fresh; the simulator connects N
 * bundle devices, then sends 1 msg/s each for the steady window. CPU and RSS of every process are
 * read from /proc at each phase change of the simulator (ramp → steady → stopping).
 */
import { cpuMs, machineLoad, rssKb } from '../broker/procstat.js';
import { runSim, startBroker, startConsumer, startKdc, type ConsumerStats, type SimPhase } from './children.js';
import type { FleetBenchSetup } from './setup.js';

const PROCS = ['sim', 'broker', 'kdc', 'consumer'] as const;
type Proc = (typeof PROCS)[number];
type Sample = Record<Proc, { cpuMs: number; rssKb: number }>;

export interface RunFigures {
  readonly devices: number;
  readonly load1: { start: number; end: number };
  readonly ramp: { seconds: number; devicesPerSecond: number; connectP50: number; connectP99: number; firstKeyP50: number; firstKeyP99: number; cpuMsPerDevice: Record<Proc, number> };
  readonly steady: { seconds: number; simSentPerSecond: number; consumerOpenedPerSecond: number; cpuCores: Record<Proc, number>; cpuMicrosPerMessage: Record<Proc, number> };
  readonly messages: { sent: number; opened: number; loss: number; duplicate: number; undecryptable: number; republished: number; late: number };
  readonly memory: { simRssPerDeviceKb: number; brokerRssPerConnectionKb: number; brokerIdleMb: number; simReadyMb: number };
  readonly failed: Record<string, number>;
  readonly errors: Record<string, number>;
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

/** The consumer's opened count at time `at`, interpolated between its one-second stats lines. */
function openedAt(samples: readonly ConsumerStats[], at: number): number {
  const after = samples.findIndex((s) => s.at >= at);
  if (after <= 0) return after === 0 ? samples[0]!.opened : (samples.at(-1)?.opened ?? 0);
  const a = samples[after - 1]!;
  const b = samples[after]!;
  return a.opened + ((b.opened - a.opened) * (at - a.at)) / Math.max(1, b.at - a.at);
}

async function settled(samples: readonly ConsumerStats[], timeoutMs: number): Promise<ConsumerStats | undefined> {
  const deadline = Date.now() + timeoutMs;
  let last = -1;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const now = samples.at(-1)?.opened ?? 0;
    if (now === last) break;
    last = now;
  }
  return samples.at(-1);
}

export async function measure(setup: FleetBenchSetup, devices: number, durationS: number): Promise<RunFigures> {
  const loadStart = machineLoad().load1;
  const broker = await startBroker(setup.dir, setup.redis.url);
  const kdc = await startKdc(setup.dir, setup.redis.url, broker.url);
  const consumer = await startConsumer(setup.dir, broker.url);
  const pids: Partial<Record<Proc, number>> = { broker: broker.pid, kdc: kdc.pid, consumer: consumer.pid };
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const brokerIdleKb = rssKb(broker.pid);
  const samples = new Map<SimPhase['phase'], { at: number; s: Sample }>();
  const sample = (): Sample => Object.fromEntries(PROCS.map((p) => [p, pids[p] ? { cpuMs: cpuMs(pids[p]!), rssKb: rssKb(pids[p]!) } : { cpuMs: 0, rssKb: 0 }])) as Sample;
  try {
    const { report } = await runSim([
      '--bundles', setup.bundles, '--devices', String(devices), '--rate', '1', '--duration', String(durationS), '--ready-timeout', '600',
      '--broker', broker.url, '--cacert', `${setup.dir}/ca/chain.pem`, '--dir', setup.dir, '--no-renew', '--send-after-ready',
    ], (phase, simPid) => {
      pids.sim = simPid;
      if (phase.phase !== 'done') samples.set(phase.phase, { at: phase.at, s: sample() });
    });
    const final = await settled(consumer.samples, 30_000);
    const ramp = samples.get('ramp');
    const steady = samples.get('steady');
    const stopping = samples.get('stopping');
    if (!ramp || !steady || !stopping) throw new Error(`the simulator skipped a phase: ${[...samples.keys()].join(', ')}`);
    const rampS = (steady.at - ramp.at) / 1000;
    const steadyS = (stopping.at - steady.at) / 1000;
    const opened = openedAt(consumer.samples, stopping.at) - openedAt(consumer.samples, steady.at);
    const sentSteady = report.steady.sent;
    const per = (from: Sample, to: Sample, f: (cpu: number) => number, digits = 1) => Object.fromEntries(PROCS.map((p) => [p, round(f(to[p].cpuMs - from[p].cpuMs), digits)])) as Record<Proc, number>;
    return {
      devices,
      load1: { start: loadStart, end: machineLoad().load1 },
      ramp: {
        seconds: round(rampS, 2),
        devicesPerSecond: round(devices / rampS),
        connectP50: report.latencyMs.connect.p50,
        connectP99: report.latencyMs.connect.p99,
        firstKeyP50: report.latencyMs.firstKey.p50,
        firstKeyP99: report.latencyMs.firstKey.p99,
        cpuMsPerDevice: per(ramp.s, steady.s, (ms) => ms / devices),
      },
      steady: {
        seconds: round(steadyS, 2),
        simSentPerSecond: report.steady.perSecond,
        consumerOpenedPerSecond: round(opened / steadyS),
        cpuCores: per(steady.s, stopping.s, (ms) => ms / 1000 / steadyS, 2),
        cpuMicrosPerMessage: per(steady.s, stopping.s, (ms) => (ms * 1000) / Math.max(1, sentSteady)),
      },
      messages: {
        sent: report.messages.sent,
        opened: final?.opened ?? 0,
        loss: report.messages.sent - (final?.opened ?? 0),
        duplicate: final?.duplicate ?? 0,
        undecryptable: final?.undecryptable ?? 0,
        republished: report.messages.republished,
        late: report.messages.late,
      },
      memory: {
        simRssPerDeviceKb: report.memory.rssPerDeviceKb,
        brokerRssPerConnectionKb: round((steady.s.broker.rssKb - brokerIdleKb) / devices),
        brokerIdleMb: round(brokerIdleKb / 1024),
        simReadyMb: report.memory.readyMb,
      },
      failed: report.failed,
      errors: report.errors,
    };
  } finally {
    await consumer.stop();
    await kdc.stop();
    await broker.stop();
  }
}
