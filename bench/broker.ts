/**
 * Our broker against Mosquitto 2, the same load generator (MQTT.js over mutual TLS, in this process)
 * and the same certificates, in one run; beside them aedes without hooks (the naive Aedes) and
 * two Node floors: a minimal MQTT relay on Node's TLS (connects and messages) and a bare Node TLS
 * server (idle memory). Every server
 * is a child process on 127.0.0.1; broker CPU and RSS come from /proc. Prints a table (medians over
 * `--runs`) and a final JSON line with every figure. `--profile` then CPU-profiles our broker
 * (node --cpu-prof); `--perf` samples both brokers with Linux perf.
 * Usage: node dist/bench/broker.js [--quick] [--runs 3] [--profile] [--perf] [--skip-idle]
 */
import { parseArgs } from 'node:util';
import { connectPass, connectPasses } from './broker/connect.js';
import { createFixtures, type BenchFixtures } from './broker/fixtures.js';
import { idleRss, type IdleResult } from './broker/idle.js';
import { latency, openPubSub, throughput, type QoS } from './broker/messages.js';
import { ensureFdLimit, printMachine } from './broker/machine.js';
import { perfAvailable, perfBrokers } from './broker/perf.js';
import { machineLoad } from './broker/procstat.js';
import { profileBroker } from './broker/profile.js';
import { flatten, medians, printTable, type Figures } from './broker/report.js';
import { startFleetkey, startFloor, startMosquitto, startNaiveAedes, startRelay, type Target } from './broker/targets.js';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    runs: { type: 'string' },
    profile: { type: 'boolean', default: false },
    perf: { type: 'boolean', default: false },
    'skip-idle': { type: 'boolean', default: false },
  },
});
const quick = values.quick;
const plan = {
  runs: Number(values.runs ?? (quick ? 1 : 3)),
  connects: quick ? 200 : 1000,
  /**
   * Unmeasured fresh connects through each broker before the measured ones: our broker's first
   * thousand connects after a start run on cold JIT (191/s, then 318–374/s), and the load generator's
   * own TLS client code warms up on whichever broker it meets first.
   */
  connectWarmup: quick ? 200 : 1000,
  /** The measured connects run in rounds that take turns between the servers (see connectPasses). */
  connectRounds: 10,
  inflight: 8,
  publishers: 50,
  qos0: { count: quick ? 20_000 : 200_000, warmup: quick ? 2_000 : 20_000, window: 1000, timeoutMs: 60_000 },
  qos1: { count: quick ? 10_000 : 100_000, warmup: quick ? 1_000 : 10_000, window: 1000, timeoutMs: 60_000 },
  latency: { rate: 1000, seconds: quick ? 2 : 10, warmupS: quick ? 0.5 : 2 },
  /** --profile / --perf: messages through a fresh broker before measuring (JIT warm-up). */
  warmMessages: quick ? 5_000 : 30_000,
  idle: { steps: quick ? [200, 500] : [1000, 5000], inflight: 16, settleMs: quick ? 1000 : 3000 },
};
const brokers = ['fleetkey', 'aedes', 'mosquitto', 'relay'] as const;
type Broker = (typeof brokers)[number];

async function each<T>(targets: Record<Broker, Target>, work: (t: Target) => Promise<T>): Promise<Record<Broker, T>> {
  const out = {} as Record<Broker, T>;
  for (const name of brokers) out[name] = await work(targets[name]);
  return out;
}

async function messageWorkloads(target: Target, fx: BenchFixtures, qos: QoS) {
  const ps = await openPubSub(target, fx, plan.publishers, qos);
  try {
    const rate = await throughput(target, ps, qos, qos === 0 ? plan.qos0 : plan.qos1);
    const lat = await latency(target, ps, qos, plan.latency);
    return { rate, lat };
  } finally {
    await ps.close();
  }
}

/** One run: workloads 1–4 against every server (alternating, so background load hits all), then 5. */
async function run(fx: BenchFixtures, index: number): Promise<Figures> {
  const load = machineLoad();
  const figures: Figures = { 'machine.load1': load.load1 };
  const targets = { fleetkey: await startFleetkey(fx.dir), aedes: await startNaiveAedes(fx.dir), mosquitto: await startMosquitto(fx.dir), relay: await startRelay(fx.dir) };
  try {
    await each(targets, (t) => connectPass(t, fx, { count: plan.connectWarmup, inflight: plan.inflight }));
    const fresh = await connectPasses(targets, fx, { count: plan.connects, inflight: plan.inflight, rounds: plan.connectRounds });
    const resumed = await connectPasses(targets, fx, { count: plan.connects, inflight: plan.inflight, rounds: plan.connectRounds, resume: fresh });
    const q0 = await each(targets, (t) => messageWorkloads(t, fx, 0));
    const q1 = await each(targets, (t) => messageWorkloads(t, fx, 1));
    for (const name of brokers) {
      flatten(name, { connect: fresh[name].result, resumed: resumed[name].result, qos0: q0[name].rate, qos1: q1[name].rate, lat0: q0[name].lat, lat1: q1[name].lat }, figures);
    }
  } finally {
    await Promise.all(Object.values(targets).map((t) => t.stop()));
  }
  if (!values['skip-idle']) {
    for (const start of [startFloor, startFleetkey, startNaiveAedes, startMosquitto]) {
      const target = await start(fx.dir);
      let idle: IdleResult;
      try {
        idle = await idleRss(target, fx, plan.idle.steps, plan.idle);
      } finally {
        await target.stop();
      }
      const [small, large] = idle.steps;
      flatten(`${target.name}.idle`, { emptyRssKb: idle.emptyRssKb, failures: idle.failures, small, large }, figures);
    }
  }
  console.log(`run ${index + 1}/${plan.runs} done (load ${load.load1.toFixed(2)} at start): ${summary(figures)}`);
  return figures;
}

function summary(f: Figures): string {
  const r = (a: string, b: string) => ((f[a] ?? Number.NaN) / (f[b] ?? Number.NaN)).toFixed(2);
  return [
    `connect ${r('fleetkey.connect.perSec', 'mosquitto.connect.perSec')}x`,
    `resumed ${r('fleetkey.resumed.perSec', 'mosquitto.connect.perSec')}x`,
    `qos1 ${r('fleetkey.qos1.perSec', 'mosquitto.qos1.perSec')}x`,
    `cpu@1k ${r('fleetkey.lat0.cpuUsEach', 'mosquitto.lat0.cpuUsEach')}x/${r('fleetkey.lat1.cpuUsEach', 'mosquitto.lat1.cpuUsEach')}x`,
    `p99 ${r('fleetkey.lat0.p99Ms', 'mosquitto.lat0.p99Ms')}x/${r('fleetkey.lat1.p99Ms', 'mosquitto.lat1.p99Ms')}x`,
    `rss/floor ${r('fleetkey.idle.large.perClientKb', 'floor.idle.large.perClientKb')}x`,
    `cpu@1k vs aedes ${r('fleetkey.lat0.cpuUsEach', 'aedes.lat0.cpuUsEach')}x/${r('fleetkey.lat1.cpuUsEach', 'aedes.lat1.cpuUsEach')}x`,
    `relay cpu@1k ${r('relay.lat0.cpuUsEach', 'mosquitto.lat0.cpuUsEach')}x/${r('relay.lat1.cpuUsEach', 'mosquitto.lat1.cpuUsEach')}x`,
  ].join(', ');
}

async function main(): Promise<void> {
  const largest = Math.max(...plan.idle.steps);
  ensureFdLimit(largest + 1024);
  printMachine();
  const setup = performance.now();
  const fx = createFixtures(Math.max(largest, plan.connects, plan.publishers));
  console.log(`certificates: CA, server, ${fx.devices} devices, consumer in ${((performance.now() - setup) / 1000).toFixed(1)} s (${fx.dir})`);
  try {
    const runs: Figures[] = [];
    for (let i = 0; i < plan.runs; i++) runs.push(await run(fx, i));
    console.log(`\nmedians of ${runs.length} run(s); ratio = ours / reference, median of per-run ratios`);
    const verdicts = printTable(runs, { small: plan.idle.steps[0]!, large: plan.idle.steps[1] ?? largest });
    const after = machineLoad();
    console.log(`machine load after: ${after.load1.toFixed(2)} (1 min) on ${after.cores} cores`);
    if (values.profile) await profileBroker(fx, plan);
    let perf: Figures = {};
    if (values.perf) {
      if (perfAvailable()) perf = await perfBrokers(fx, { ...plan.latency, connects: plan.connects, inflight: plan.inflight, warmMessages: plan.warmMessages });
      else console.log('--perf: `perf` is not installed (Debian: linux-perf); skipped');
    }
    console.log(JSON.stringify({ bench: 'broker', quick, plan, machine: { ...after }, median: medians(runs), verdicts, perf, runs }));
  } finally {
    fx.remove();
  }
}

await main();
