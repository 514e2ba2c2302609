import { Slots } from './backoff.js';
import { SimDevice } from './device.js';
import type { SimEnv } from './env.js';
import { resolveFleetOptions, type FleetOptions, type FleetOptionsInput } from './options.js';
import { buildReport, type Checkpoint, type SimReport } from './report.js';
import { TimingWheel } from './scheduler.js';
import { FleetCounters, Tally } from './stats.js';

/** Where the fleet stands: devices per stage and the running totals, for progress lines. */
export interface FleetProgress {
  readonly devices: number;
  readonly enrolled: number;
  readonly connected: number;
  readonly keyed: number;
  readonly failed: number;
  readonly sent: number;
  readonly errors: number;
}

export interface SimFleet {
  readonly options: Readonly<FleetOptions>;
  readonly devices: readonly SimDevice[];
  readonly counters: FleetCounters;
  /** Starts every device; connection attempts queue for the handshake slots. */
  start(): void;
  /** With `holdTelemetry`: every connected device starts sending (later ones as they connect). */
  openTelemetry(): void;
  progress(): FleetProgress;
  /** Resolves true once every device is connected with a key (or has failed), false after `timeoutMs`. */
  ready(timeoutMs: number): Promise<boolean>;
  /** Stops readings, waits up to `drainMs` for unacknowledged messages, disconnects, reports. */
  stop(drainMs?: number): Promise<SimReport>;
}

/**
 * A fleet of simulated devices in this process, sharing one timing wheel (every device timer and
 * every MQTT keepalive), one set of counters and the handshake/enrollment slots.
 * `baselineRssBytes` is the process RSS before any device existed (bundles loaded count as devices).
 */
export function createFleet(input: FleetOptionsInput, baselineRssBytes = process.memoryUsage().rss): SimFleet {
  const options = resolveFleetOptions(input);
  const counters = new FleetCounters();
  const wheel = new TimingWheel({ tickMs: options.tickMs, onError: () => counters.errors.add('INTERNAL') });
  const env: SimEnv = {
    wheel,
    trust: options.trust,
    counters,
    link: { url: new URL(options.brokerUrl), keepaliveSeconds: options.keepaliveSeconds, connectTimeoutMs: options.connectTimeoutMs, timer: wheel.intervalTimer() },
    est: options.est,
    connectSlots: new Slots(options.connectConcurrency),
    enrollSlots: new Slots(options.enrollConcurrency),
    backoff: options.backoff,
    device: {
      rate: options.rate, qos: options.qos, grantTimeoutMs: options.grantTimeoutMs, outboxMax: options.outboxMax, renew: options.renew,
      telemetryGate: { open: !options.holdTelemetry },
    },
    observe: options.observe,
  };
  const devices = options.devices.map((d) => new SimDevice(env, d.id, 'identity' in d ? { identity: d.identity } : { token: d.token }));
  const checkpoints: { start?: Checkpoint; ready?: Checkpoint } = {};
  const waiting = new Set<() => void>();
  const checkpoint = (): Checkpoint => ({ at: performance.now(), cpu: process.cpuUsage(), memory: process.memoryUsage(), sent: counters.sent });

  const progress = (): FleetProgress => {
    let enrolled = 0;
    let connected = 0;
    let keyed = 0;
    let failed = 0;
    for (const d of devices) {
      if (d.identity) enrolled++;
      if (d.stage === 'online') connected++;
      if (d.stage === 'online' && d.keyed) keyed++;
      if (d.stage === 'failed') failed++;
    }
    return { devices: devices.length, enrolled, connected, keyed, failed, sent: counters.sent, errors: counters.errors.total };
  };

  return {
    options,
    devices,
    counters,
    start() {
      checkpoints.start = checkpoint();
      for (const d of devices) d.start();
    },
    openTelemetry() {
      env.device.telemetryGate.open = true;
      for (const d of devices) d.beginTelemetry();
    },
    progress,
    ready(timeoutMs) {
      const deadline = performance.now() + timeoutMs;
      return new Promise((resolve) => {
        const poll = setInterval(() => {
          const p = progress();
          const done = p.keyed + p.failed === p.devices;
          if (!done && performance.now() < deadline) return;
          clearInterval(poll);
          waiting.delete(finish);
          if (done) checkpoints.ready ??= checkpoint();
          resolve(done);
        }, 50);
        const finish = () => {
          clearInterval(poll);
          resolve(false);
        };
        waiting.add(finish);
      });
    },
    async stop(drainMs = 5000) {
      for (const finish of waiting) finish();
      waiting.clear();
      const end = checkpoint();
      for (const d of devices) d.quiesce();
      const deadline = performance.now() + drainMs;
      while (devices.some((d) => d.pendingMessages > 0 && d.stage === 'online') && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const final = progress();
      const failures = new Tally();
      for (const d of devices) {
        if (d.failure) failures.add(d.failure);
        else if (d.stage !== 'online' || !d.keyed) failures.add('SIM_NOT_READY');
      }
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(devices.map((d) => d.stop())), new Promise((resolve) => (timer = setTimeout(resolve, 3000)))]);
      clearTimeout(timer);
      for (const d of devices) d.kill();
      wheel.close();
      return buildReport({ options, devices, counters, progress: final, failures, baselineRssBytes, start: checkpoints.start ?? end, ready: checkpoints.ready, end });
    },
  };
}
