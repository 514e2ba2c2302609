/**
 * One soak, step by step: services up, consumer on, every simulator connected and keyed, telemetry
 * opened; at --restart-at the brokers are SIGKILLed and started again, and as soon as they say they
 * are up a rotation is requested, in the middle of the reconnect storm. The run goes on to the
 * planned end (longer, up to --grace seconds, while devices are still away or the rotation unacked),
 * then the simulators drain and report and the consumer's count settles.
 */
import { machineLoad } from '../broker/procstat.js';
import type { ConsumerStats } from '../fleet/children.js';
import { startSoakConsumer } from './consumer.js';
import { median, round, sumTallies, verdict, type BrokerFigures, type SoakFigures } from './figures.js';
import type { SoakOptions } from './options.js';
import { rotationControl, type RotationState } from './rotation.js';
import { LogTally, startCluster, startEmbedded, type SoakBroker } from './services.js';
import { setUpSoak } from './setup.js';
import { startSim, type SimResult } from './sims.js';
import { watchBroker } from './watch.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runSoak(opts: Readonly<SoakOptions>, say: (line: string) => void): Promise<SoakFigures> {
  const load1Start = machineLoad().load1;
  say(`making ${opts.devices} device bundles (${opts.sims} groups) on ${opts.cluster ? 'a Redis store' : 'the file: store'}…`);
  const setup = await setUpSoak(opts.devices, opts.sims, opts.cluster);
  const logs = new LogTally();
  const stops: Array<() => Promise<void> | void> = [];
  try {
    const services = opts.cluster ? await startCluster(setup, logs) : await startEmbedded(setup, logs);
    stops.push(() => services.stop());
    const { brokers } = services;
    const watches = brokers.map(watchBroker);
    stops.push(() => watches.forEach((w) => w.stop()));
    const consumer = await startSoakConsumer(setup.dir, services.consumerBroker.url, opts.consumer === 'persistent', logs);
    stops.push(() => consumer.stop());
    await sleep(1000);
    const idleKb = watches.map((w) => w.rssKb());

    // Simulator g connects to broker g mod (number of brokers).
    const brokerOf = (g: number) => brokers[g % brokers.length]!;
    const chain = `${setup.dir}/ca/chain.pem`;
    const sims = setup.groups.map((dir, g) => startSim(`sim-${g}`, dir, brokerOf(g).url, chain, opts.rate, opts.connectConcurrency));
    stops.push(async () => void (await Promise.all(sims.map((s) => s.child.stop()))));
    const rampFrom = performance.now();
    say(`${opts.devices} devices connecting over ${opts.sims} simulator process(es)…`);
    await withDeadline(Promise.all(sims.map((s) => s.ready)), Math.max(300, opts.devices / 5) * 1000, () => `not every device keyed: ${JSON.stringify(sims.map((s) => s.latest()?.keyed))}`);
    const rampS = (performance.now() - rampFrom) / 1000;
    const connectedKb = watches.map((w) => w.rssKb());
    for (const s of sims) s.open();
    const openedAt = performance.now();
    say(`every device keyed after ${round(rampS)} s; telemetry for ${opts.seconds} s, restart at ${opts.restartAt} s`);

    await sleep(opts.restartAt * 1000);
    const restarted = brokers.filter((_, i) => opts.restart === 'all' || (opts.restart === 'a' && i === 0) || (opts.restart === 'b' && i === 1));
    const killedAt = Date.now();
    const atKill = { sent: sims.reduce((n, s) => n + (s.latest()?.sent ?? 0), 0), opened: consumer.samples.at(-1)?.opened ?? 0 };
    await Promise.all(restarted.map((b) => b.kill()));
    if (restarted.length > 0) say(`SIGKILLed ${restarted.map((b) => b.name).join(' + ')}; starting again…`);
    const back = await Promise.all(restarted.map((b) => b.start()));
    const listenedAt = new Map(restarted.map((b, i) => [b, back[i]!.listenedAt]));
    const reference = Math.max(killedAt, ...back.map((b) => b.listenedAt));
    const readyAt = Math.max(killedAt, ...back.map((b) => b.readyAt));

    const rotation = await rotationControl(setup, services);
    stops.push(() => rotation.close());
    const previousEpoch = await rotation.request();
    const requestedAt = Date.now();
    say(`rotation requested ${round((requestedAt - reference) / 1000)} s after listening (previous epoch ${previousEpoch})`);
    const follow = followRotation(rotation, previousEpoch, opts.devices);

    const restartedSims = sims.filter((_, g) => restarted.includes(brokerOf(g)));
    const restartedDevices = restartedSims.reduce((n, s) => n + (s.latest()?.devices ?? 0), 0);
    const recovered = () => follow.allAckedAt !== undefined && restartedSims.every((s) => {
      const o = s.latest()?.outages;
      return o !== undefined && o.down >= (s.latest()?.devices ?? 0) && o.back === o.down;
    });
    const plannedEnd = openedAt + opts.seconds * 1000;
    while (performance.now() < plannedEnd || (!recovered() && performance.now() < plannedEnd + opts.grace * 1000)) await sleep(500);
    const telemetryS = (performance.now() - openedAt) / 1000;
    follow.stop();

    say('stopping the simulators; waiting for the consumer to settle…');
    const results = await Promise.all(sims.map((s) => s.stop()));
    const last = await settled(consumer.samples);
    const final = await rotation.current().catch(() => follow.last);
    const restartedResults = results.filter((_, g) => restarted.includes(brokerOf(g)));
    const stormEnd = Math.max(...results.map((r) => r.outages.lastBackAt ?? reference)) + 5000;

    const brokerFigures: BrokerFigures[] = brokers.map((b, i) => {
      const devices = sims.reduce((n, s, g) => n + (brokerOf(g) === b ? (s.latest()?.devices ?? 0) : 0), 0);
      const lag = watches[i]!.lag.map((l) => l.p99Ms);
      const storm = watches[i]!.lag.filter((l) => l.at >= killedAt && l.at <= stormEnd + 2000).map((l) => l.p99Ms);
      return {
        name: b.name, devices,
        rssIdleMb: round(idleKb[i]! / 1024), rssConnectedMb: round(connectedKb[i]! / 1024),
        rssPerConnectionKb: round((connectedKb[i]! - idleKb[i]!) / Math.max(1, devices)),
        rssPeakMb: round(watches[i]!.peakRssKb() / 1024),
        lagP99Ms: { median: round(median(lag)), max: round(Math.max(0, ...lag)), stormMax: round(Math.max(0, ...storm)) },
      };
    });
    const sent = results.reduce((n, r) => n + r.report.messages.sent, 0);
    const opened = last?.opened ?? 0;
    const backSince = (pick: (r: SimResult) => number | null, fold: (a: number, b: number) => number) => {
      const times = results.flatMap((r, g) => {
        const t = pick(r);
        const ref = listenedAt.get(brokerOf(g));
        return t === null || ref === undefined ? [] : [(t - ref) / 1000];
      });
      return times.length === 0 ? null : round(times.reduce((a, b) => fold(a, b)), 2);
    };
    const figures = {
      bench: 'soak' as const,
      variant: opts.cluster ? 'cluster' as const : 'embedded' as const,
      devices: opts.devices, sims: opts.sims, rate: opts.rate, consumer: opts.consumer,
      seconds: { planned: opts.seconds, telemetry: round(telemetryS), setup: round(setup.seconds), ramp: round(rampS) },
      machine: { cores: machineLoad().cores, load1Start, load1End: machineLoad().load1 },
      restart: {
        signal: restarted.length > 0 ? 'SIGKILL' as const : 'none' as const, brokers: restarted.map((b) => b.name),
        downSeconds: round((reference - killedAt) / 1000, 2), readySeconds: round((readyAt - killedAt) / 1000, 2),
      },
      reconnect: {
        down: restartedResults.reduce((n, r) => n + r.outages.down, 0),
        back: restartedResults.reduce((n, r) => n + r.outages.back, 0),
        firstBackS: backSince((r) => r.outages.firstBackAt, Math.min),
        lastBackS: backSince((r) => r.outages.lastBackAt, Math.max),
        lastRekeyedS: backSince((r) => r.outages.lastRegrantedAt, Math.max),
        consumerKeyedS: restarted.includes(services.consumerBroker) ? secondsAfter(consumer.granted.find((t) => t >= killedAt), reference) : null,
      },
      rotation: {
        requestedS: round((requestedAt - reference) / 1000, 2),
        epoch: final && final.epoch > previousEpoch ? final.epoch : null,
        granted: final && final.epoch > previousEpoch ? final.granted : 0,
        acked: final && final.epoch > previousEpoch ? final.acked : 0,
        allAckedS: secondsAfter(follow.allAckedAt, requestedAt),
        devicesHolding: final && final.epoch > previousEpoch ? results.reduce((n, r) => n + holding(r.outages.newestEpoch, final.epoch), 0) : 0,
      },
      brokers: brokerFigures,
      messages: {
        sent, opened, lost: sent - opened, atKill,
        duplicates: last?.duplicate ?? 0, undecryptable: last?.undecryptable ?? 0, replay: last?.replay ?? 0, staleEpoch: last?.stale ?? 0,
        republished: results.reduce((n, r) => n + r.report.messages.republished, 0),
        late: results.reduce((n, r) => n + r.report.messages.late, 0),
        dropped: results.reduce((n, r) => n + r.report.messages.dropped, 0),
        skipped: results.reduce((n, r) => n + r.report.messages.skipped, 0),
      },
      simFailed: sumTallies(results, (r) => r.report.failed),
      simErrors: sumTallies(results, (r) => r.report.errors),
      serviceWarnings: logs.counts,
    };
    for (const line of logs.samples) say(`  logged: ${line}`);
    return { ...figures, failures: verdict(figures, restartedDevices) };
  } finally {
    for (const stop of stops.reverse()) await stop();
    await setup.cleanup();
  }
}

const secondsAfter = (t: number | undefined, from: number): number | null => (t === undefined ? null : round((t - from) / 1000, 2));

/** Devices whose newest key is of `epoch` or later. */
const holding = (newest: Record<string, number>, epoch: number): number =>
  Object.entries(newest).reduce((n, [e, count]) => n + (Number(e) >= epoch ? count : 0), 0);

/** Polls the rotation after the request until every device acked the new epoch. */
function followRotation(rotation: { current(): Promise<RotationState | undefined> }, previous: number, devices: number) {
  const state: { last: RotationState | undefined; allAckedAt: number | undefined; stop(): void } = { last: undefined, allAckedAt: undefined, stop: () => undefined };
  let stopped = false;
  state.stop = () => (stopped = true);
  void (async () => {
    while (!stopped && state.allAckedAt === undefined) {
      const now = await rotation.current().catch(() => undefined);
      if (now && now.epoch > previous) {
        state.last = now;
        if (now.acked >= devices) state.allAckedAt = Date.now();
      }
      await sleep(250);
    }
  })();
  return state;
}

/** The consumer's last stats once its opened count stops growing (two seconds unchanged). */
async function settled(samples: readonly ConsumerStats[]): Promise<ConsumerStats | undefined> {
  let last = -1;
  for (let i = 0; i < 30; i++) {
    const now = samples.at(-1)?.opened ?? 0;
    if (now === last) break;
    last = now;
    await sleep(2000);
  }
  return samples.at(-1);
}

async function withDeadline<T>(work: Promise<T>, ms: number, why: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(why())), ms)));
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}
