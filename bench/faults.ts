/**
 * The faults bench (issue 17): a Redis-backed cluster — two brokers, a KDC on broker A, a consumer on
 * broker B, N simulated devices split across the brokers, every part its own process — on a durable
 * Redis (AOF, appendfsync always). Once every device sends, a rotation is requested; when the KDC logs
 * `rotation-started`, Redis is SIGKILLed, kept down for --outage seconds, and started again on its data.
 * Reports: time from Redis's return to every device acked on the new epoch, sessions dropped by the
 * outage (goal 0), fresh CONNECTs refused during it and how fast (none may be admitted), event-loop lag
 * p99 of the brokers, and sent = opened at the consumer.
 * Usage: node dist/bench/faults.js [--devices 1000] [--outage 10] [--duration 90]
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadFleetCa } from '../certs/ca.js';
import { makeBundle, recordBundles, trustOf, writeBundle } from '../device-sim/index.js';
import { openStore } from '../store/index.js';
import { ensureFdLimit, printMachine } from './broker/machine.js';
import { scrape, startClusterBroker, startWatchedKdc, type BrokerChild } from './faults/cluster.js';
import { loadProbeDevice, probeConnect, type Probe, type ProbeDevice } from './faults/probe.js';
import { runSim, startConsumer, STORE_PREFIX, type SimPhase } from './fleet/children.js';
import { setUp } from './fleet/setup.js';

const { values } = parseArgs({ options: { devices: { type: 'string', default: '1000' }, outage: { type: 'string', default: '10' }, duration: { type: 'string', default: '90' } } });
const devices = Number(values.devices);
const outageS = Number(values.outage);
const durationS = Number(values.duration);
if (!(devices >= 2) || !(outageS > 0) || !(durationS > outageS)) throw new Error('--devices >= 2, --outage > 0 s, --duration > --outage');
const RECOVERY_TIMEOUT_MS = 120_000;
const PROBE_ID = 'bench-probe';

ensureFdLimit(devices + 1024);
printMachine();
console.log(`making ${devices} device bundles in two groups, on a durable Redis…`);
const setup = await setUp(devices, { groups: 2, durable: true });
const store = await openStore(setup.redis.url, { prefix: STORE_PREFIX });
const probeDevice = await makeProbeDevice();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const round = (n: number, digits = 2) => Math.round(n * 10 ** digits) / 10 ** digits;

const children: { stop(): Promise<void> }[] = [];
try {
  const brokerA = await startClusterBroker(setup.dir, setup.redis.url, 'broker-a');
  children.push(brokerA);
  const brokerB = await startClusterBroker(setup.dir, setup.redis.url, 'broker-b');
  children.push(brokerB);
  const kdc = await startWatchedKdc(setup.dir, setup.redis.url, brokerA.url);
  children.push(kdc);
  const consumer = await startConsumer(setup.dir, brokerB.url);
  children.push(consumer);
  const brokers = [brokerA, brokerB];

  const steady = { a: false, b: false };
  let allSteady: () => void = () => undefined;
  const sending = new Promise<void>((resolve) => (allSteady = resolve));
  const onPhase = (which: 'a' | 'b') => (phase: SimPhase) => {
    if (phase.phase !== 'steady') return;
    steady[which] = true;
    if (steady.a && steady.b) allSteady();
  };
  const simArgs = (bundles: string, broker: BrokerChild, count: number) => [
    '--bundles', bundles, '--devices', String(count), '--rate', '1', '--duration', String(durationS), '--ready-timeout', '300',
    '--broker', broker.url, '--cacert', join(setup.dir, 'ca', 'chain.pem'), '--dir', setup.dir, '--no-renew', '--send-after-ready',
  ];
  const half = Math.ceil(devices / 2);
  const sims = [
    runSim(simArgs(setup.groups[0]!, brokerA, half), onPhase('a')),
    runSim(simArgs(setup.groups[1]!, brokerB, devices - half), onPhase('b')),
  ];
  console.log(`${devices} devices connecting (half on each broker)…`);
  await sending;
  await sleep(3000);
  const before = await Promise.all(brokers.map((b) => scrape(b.metricsUrl)));

  const rotationStarted = kdc.nextRotationStarted();
  await store.publish({ type: 'rotate-requested', requestedBy: 'bench:faults', switchAfterSeconds: undefined });
  const epoch = await rotationStarted;
  await setup.redis.kill();
  const killedAt = performance.now();
  console.log(`rotation to epoch ${epoch} started; Redis SIGKILLed for ${outageS} s`);

  const during: Probe[] = [];
  while (performance.now() - killedAt < outageS * 1000) {
    during.push(...(await Promise.all(brokers.map((b) => probeConnect(b.url, probeDevice)))));
    await sleep(1000);
  }
  await setup.redis.restart();
  const restartedAt = performance.now();
  console.log('Redis is back; waiting for every device to ack the new epoch…');
  const recoveredMs = await untilAllAcked(epoch, restartedAt);
  const after = await Promise.all(brokers.map((b) => probeConnect(b.url, probeDevice)));

  const reports = await Promise.all(sims);
  const opened = await settledOpened(consumer.samples);
  const end = await Promise.all(brokers.map((b) => scrape(b.metricsUrl)));

  const delta = (name: string, labels?: string) => end.reduce((sum, m, i) => sum + m(name, labels) - before[i]!(name, labels), 0);
  const sent = reports.reduce((n, r) => n + r.report.messages.sent, 0);
  const last = consumer.samples.at(-1);
  const figures = {
    devices,
    outageSeconds: outageS,
    epoch,
    recoverySeconds: recoveredMs === undefined ? null : round(recoveredMs / 1000),
    sessionsDropped: reports.reduce((n, r) => n + r.report.connections.reconnects, 0),
    kicks: delta('fleetkey_broker_kicks_total', 'reason="revoked"') + delta('fleetkey_broker_kicks_total', 'reason="expired"'),
    probesDuringOutage: during.length,
    admittedDuringOutage: during.filter((p) => p.answer === 'admitted').length,
    refusalsDuringOutage: tally(during),
    refusalMsMax: during.length === 0 ? null : Math.max(...during.map((p) => p.ms)),
    brokerStoreRefusals: delta('fleetkey_broker_refusals_total', 'reason="store-unavailable"'),
    admittedAfter: after.filter((p) => p.answer === 'admitted').length,
    eventLoopLagP99Ms: end.map((m) => round(m('fleetkey_broker_process_nodejs_eventloop_lag_p99_seconds') * 1000)),
    messages: {
      sent, opened, lost: sent - opened,
      duplicate: last?.duplicate ?? 0, replay: last?.replay ?? 0, staleEpoch: last?.stale ?? 0, undecryptable: last?.undecryptable ?? 0,
    },
    simFailed: reports.map((r) => r.report.failed),
  };

  const row = (label: string, value: unknown) => console.log(`${label.padEnd(70)}${typeof value === 'string' ? value : JSON.stringify(value)}`);
  console.log('');
  row('devices (two brokers) / outage s', `${devices} / ${outageS}`);
  row('recovery: Redis back -> every device acked, s', figures.recoverySeconds ?? `not within ${RECOVERY_TIMEOUT_MS / 1000} s`);
  row('sessions dropped by the outage (goal 0)', figures.sessionsDropped);
  row('fresh CONNECTs during the outage: admitted (must be 0)', `${figures.admittedDuringOutage} of ${figures.probesDuringOutage}`);
  row('  answers', figures.refusalsDuringOutage);
  row('  slowest answer, ms', figures.refusalMsMax);
  row('  broker refusals, reason store-unavailable', figures.brokerStoreRefusals);
  row('fresh CONNECTs after recovery admitted', `${figures.admittedAfter} of ${after.length}`);
  row('broker event-loop lag p99, ms (A, B)', figures.eventLoopLagP99Ms);
  row('messages sent / opened / lost', `${sent} / ${opened} / ${figures.messages.lost}`);
  row('  of those not opened: refused as replay / stale epoch / undecryptable', `${figures.messages.replay} / ${figures.messages.staleEpoch} / ${figures.messages.undecryptable}`);
  row('duplicates', figures.messages.duplicate);
  console.log(`\n${JSON.stringify({ bench: 'faults', ...figures })}`);
  const failed = figures.admittedDuringOutage > 0 || figures.messages.lost !== 0 || figures.recoverySeconds === null;
  if (failed) {
    console.log('FAILED: a device was admitted during the outage, a message was lost, or the fleet did not recover');
    process.exitCode = 1;
  }
} finally {
  for (const child of children.reverse()) await child.stop();
  await store.close();
  await setup.cleanup();
}

/** A device not in the simulated fleet, recorded as enrolled, for fresh CONNECTs. */
async function makeProbeDevice(): Promise<ProbeDevice> {
  const ca = loadFleetCa(join(setup.dir, 'ca'));
  const trust = trustOf(ca);
  const bundle = makeBundle(ca, PROBE_ID, { trust });
  const dir = join(setup.dir, '..', 'probe');
  writeBundle(dir, bundle, trust);
  await recordBundles(store, [bundle]);
  return loadProbeDevice(dir, PROBE_ID);
}

/** Milliseconds from `from` until the store counts every device acked on `epoch`; undefined on timeout. */
async function untilAllAcked(epoch: number, from: number): Promise<number | undefined> {
  while (performance.now() - from < RECOVERY_TIMEOUT_MS) {
    const progress = await store.epochProgress(epoch).catch(() => undefined);
    if (progress !== undefined && progress.acked >= devices) return performance.now() - from;
    await sleep(100);
  }
  return undefined;
}

/** The consumer's opened count once it stops growing. */
async function settledOpened(samples: readonly { opened: number }[]): Promise<number> {
  let last = -1;
  for (let i = 0; i < 15; i++) {
    const now = samples.at(-1)?.opened ?? 0;
    if (now === last) return now;
    last = now;
    await sleep(2000);
  }
  return last;
}

function tally(probes: readonly Probe[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of probes) out[p.answer] = (out[p.answer] ?? 0) + 1;
  return out;
}
