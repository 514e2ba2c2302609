import type { SimDevice } from './device.js';
import type { FleetProgress } from './fleet.js';
import type { FleetOptions } from './options.js';
import type { ClockReport } from './clock-watch.js';
import type { FleetCounters, Percentiles, Tally } from './stats.js';

/** A moment of the run: time, this process's CPU and memory, messages acknowledged so far. */
export interface Checkpoint {
  readonly at: number;
  readonly cpu: NodeJS.CpuUsage;
  readonly memory: NodeJS.MemoryUsage;
  readonly sent: number;
}

/** The final report of `fleetkey sim` (`--json`). Times in ms unless named otherwise. */
export interface SimReport {
  readonly devices: number;
  readonly rate: number;
  readonly qos: 0 | 1;
  /** Devices per stage when the run ended. */
  readonly stages: Omit<FleetProgress, 'devices' | 'sent' | 'errors'>;
  /** skipped: readings not taken while disconnected; late: readings lost to an overloaded simulator (its timers ran late). */
  readonly messages: { sealed: number; sent: number; republished: number; skipped: number; late: number; dropped: number };
  readonly grants: { requests: number; accepted: number; rotationsAcked: number; keySwitches: number; refused: Record<string, number> };
  readonly connections: { connects: number; reconnects: number; renewals: number };
  /** Every error a device met, by code (transient ones included). */
  readonly errors: Record<string, number>;
  /** Devices that ended in error, by code: any makes `fleetkey sim` exit non-zero. */
  readonly failed: Record<string, number>;
  /** Other clocks against the devices' (docs/operations.md "Clocks"). */
  readonly clock: ClockReport;
  readonly latencyMs: { enroll: Percentiles; connect: Percentiles; firstKey: Percentiles; renew: Percentiles };
  /** From start until every device was connected with a key (absent if that never happened). */
  readonly ramp: { seconds: number; devicesPerSecond: number; cpuSeconds: number } | undefined;
  /** From ready (or start) to the end: telemetry at the configured rate. */
  readonly steady: { seconds: number; sent: number; perSecond: number; cpuSeconds: number; cpuMicrosPerMessage: number };
  readonly memory: { baselineMb: number; readyMb: number; endMb: number; rssPerDeviceKb: number; heapPerDeviceKb: number };
}

const mb = (bytes: number): number => Math.round(bytes / 1048576);
const cpuSeconds = (from: NodeJS.CpuUsage, to: NodeJS.CpuUsage): number => (to.user - from.user + to.system - from.system) / 1e6;
const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

export interface ReportInput {
  readonly options: Readonly<FleetOptions>;
  readonly devices: readonly SimDevice[];
  readonly counters: FleetCounters;
  readonly progress: FleetProgress;
  /** Devices that ended in error, by code. */
  readonly failures: Tally;
  readonly baselineRssBytes: number;
  readonly start: Checkpoint;
  readonly ready: Checkpoint | undefined;
  readonly end: Checkpoint;
}

export function buildReport(input: ReportInput): SimReport {
  const { options, devices, counters: c, progress, start, ready, end } = input;
  const n = devices.length;
  const steadyFrom = ready ?? start;
  const steadySeconds = Math.max(0.001, (end.at - steadyFrom.at) / 1000);
  const steadySent = end.sent - steadyFrom.sent;
  const steadyCpu = cpuSeconds(steadyFrom.cpu, end.cpu);
  const atReady = ready?.memory ?? end.memory;
  return {
    devices: n,
    rate: options.rate,
    qos: options.qos,
    stages: { enrolled: progress.enrolled, connected: progress.connected, keyed: progress.keyed, failed: progress.failed },
    messages: { sealed: c.sealed, sent: c.sent, republished: c.republished, skipped: c.skipped, late: c.late, dropped: c.dropped },
    grants: { requests: c.requests, accepted: c.grantsAccepted, rotationsAcked: c.rotationsAcked, keySwitches: c.keySwitches, refused: c.grantRefusals.toJSON() },
    connections: { connects: c.connects, reconnects: c.reconnects, renewals: c.renewals },
    errors: c.errors.toJSON(),
    failed: input.failures.toJSON(),
    clock: c.clock.toJSON(),
    latencyMs: { enroll: c.enrollMs.summary(), connect: c.connectMs.summary(), firstKey: c.firstKeyMs.summary(), renew: c.renewMs.summary() },
    ramp: ready && {
      seconds: round((ready.at - start.at) / 1000, 2),
      devicesPerSecond: round(n / Math.max(0.001, (ready.at - start.at) / 1000)),
      cpuSeconds: round(cpuSeconds(start.cpu, ready.cpu), 2),
    },
    steady: {
      seconds: round(steadySeconds, 2),
      sent: steadySent,
      perSecond: round(steadySent / steadySeconds),
      cpuSeconds: round(steadyCpu, 2),
      cpuMicrosPerMessage: steadySent > 0 ? round((steadyCpu * 1e6) / steadySent) : 0,
    },
    memory: {
      baselineMb: mb(input.baselineRssBytes),
      readyMb: mb(atReady.rss),
      endMb: mb(end.memory.rss),
      rssPerDeviceKb: round((atReady.rss - input.baselineRssBytes) / 1024 / n),
      heapPerDeviceKb: round((atReady.heapUsed - start.memory.heapUsed) / 1024 / n),
    },
  };
}
