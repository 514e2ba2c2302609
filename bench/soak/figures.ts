/** The soak's figures as it prints them (table and JSON line), and the verdict on them. */
import type { SimResult } from './sims.js';

export interface BrokerFigures {
  readonly name: string;
  readonly devices: number;
  readonly rssIdleMb: number;
  readonly rssConnectedMb: number;
  readonly rssPerConnectionKb: number;
  readonly rssPeakMb: number;
  /** Event-loop lag p99 of the 2 s windows: median, worst, worst from the restart to the last device back. */
  readonly lagP99Ms: { readonly median: number; readonly max: number; readonly stormMax: number };
}

export interface SoakFigures {
  readonly bench: 'soak';
  readonly variant: 'embedded' | 'cluster';
  readonly devices: number;
  readonly sims: number;
  readonly rate: number;
  readonly consumer: 'persistent' | 'clean';
  readonly seconds: { readonly planned: number; readonly telemetry: number; readonly setup: number; readonly ramp: number };
  readonly machine: { readonly cores: number; readonly load1Start: number; readonly load1End: number };
  readonly restart: { readonly signal: 'SIGKILL' | 'none'; readonly brokers: readonly string[]; readonly downSeconds: number; readonly readySeconds: number };
  /** Seconds after the restarted broker accepted TCP again. */
  readonly reconnect: { readonly down: number; readonly back: number; readonly firstBackS: number | null; readonly lastBackS: number | null; readonly lastRekeyedS: number | null; readonly consumerKeyedS: number | null };
  readonly rotation: { readonly requestedS: number | null; readonly epoch: number | null; readonly granted: number; readonly acked: number; readonly allAckedS: number | null; readonly devicesHolding: number };
  readonly brokers: readonly BrokerFigures[];
  readonly messages: {
    readonly sent: number; readonly opened: number; readonly lost: number; readonly duplicates: number; readonly undecryptable: number;
    /** Sent (simulators' last progress line, up to 1 s old) and opened (consumer's last stats line) when the brokers were killed. */
    readonly atKill: { readonly sent: number; readonly opened: number };
    readonly replay: number; readonly staleEpoch: number; readonly republished: number; readonly late: number; readonly dropped: number; readonly skipped: number;
  };
  readonly simFailed: Record<string, number>;
  readonly simErrors: Record<string, number>;
  /** Warnings and errors the services logged, by `<service> <event>`. */
  readonly serviceWarnings: Record<string, number>;
  readonly failures: readonly string[];
}

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Adds counts by key across the simulators' reports. */
export function sumTallies(results: readonly SimResult[], pick: (r: SimResult) => Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of results) for (const [k, n] of Object.entries(pick(r))) out[k] = (out[k] ?? 0) + n;
  return out;
}

/** Why the run failed; empty when it lost nothing and the fleet and the rotation came through. */
export function verdict(f: Omit<SoakFigures, 'failures'>, restartedDevices: number): string[] {
  const m = f.messages;
  return [
    m.lost > 0 && `${m.lost} messages lost (sent ${m.sent}, opened ${m.opened})`,
    m.lost < 0 && `opened ${m.opened} is more than sent ${m.sent}`,
    m.undecryptable > 0 && `${m.undecryptable} undecryptable`,
    f.reconnect.down < restartedDevices && `only ${f.reconnect.down} of ${restartedDevices} devices saw the restart`,
    f.reconnect.back < f.reconnect.down && `${f.reconnect.down - f.reconnect.back} devices never came back`,
    f.rotation.acked < f.devices && `rotation acked by ${f.rotation.acked} of ${f.devices} devices`,
    Object.keys(f.simFailed).length > 0 && `devices ended in error: ${JSON.stringify(f.simFailed)}`,
  ].filter((s): s is string => typeof s === 'string');
}

export function printTable(f: SoakFigures): void {
  const row = (label: string, value: unknown) => console.log(`${label.padEnd(66)}${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const s = (v: number | null) => (v === null ? '-' : `${v} s`);
  console.log('');
  row(`soak (${f.variant}): devices / simulators / rate`, `${f.devices} / ${f.sims} / ${f.rate} msg/s each, QoS 1`);
  row('consumer session', f.consumer);
  row('telemetry seconds (planned / run); ramp to all keyed', `${f.seconds.planned} / ${f.seconds.telemetry}; ${f.seconds.ramp} s`);
  row('machine: cores, load1 at start / end', `${f.machine.cores}, ${f.machine.load1Start} / ${f.machine.load1End}`);
  row(`restart: ${f.restart.signal} ${f.restart.brokers.join(' + ')}; killed -> listening / ready`, `${f.restart.downSeconds} s / ${f.restart.readySeconds} s`);
  row('devices that lost their connection / came back', `${f.reconnect.down} / ${f.reconnect.back}`);
  row('  first / last device back, s after listening again', `${s(f.reconnect.firstBackS)} / ${s(f.reconnect.lastBackS)}`);
  row('  last device keyed again (grant answered)', s(f.reconnect.lastRekeyedS));
  row('  consumer keyed again (its broker restarted)', s(f.reconnect.consumerKeyedS));
  row('rotation: asked s after listening; epoch', `${s(f.rotation.requestedS)}; ${f.rotation.epoch ?? '-'}`);
  row('  granted / acked (store); every device acked after', `${f.rotation.granted} / ${f.rotation.acked}; ${s(f.rotation.allAckedS)}`);
  row('  devices holding its key (simulators)', f.rotation.devicesHolding);
  for (const b of f.brokers) {
    row(`${b.name} (${b.devices} devices): RSS idle / connected / peak, MB`, `${b.rssIdleMb} / ${b.rssConnectedMb} / ${b.rssPeakMb}`);
    row('  RSS per connection, KB', b.rssPerConnectionKb);
    row('  event-loop lag p99, ms: median / worst / worst in the storm', `${b.lagP99Ms.median} / ${b.lagP99Ms.max} / ${b.lagP99Ms.stormMax}`);
  }
  const m = f.messages;
  row('messages sent / opened / lost', `${m.sent} / ${m.opened} / ${m.lost}`);
  row('  of those, sent / opened by the time of the kill (1 s lines)', `${m.atKill.sent} / ${m.atKill.opened}`);
  row('  duplicates / undecryptable / replay / stale epoch', `${m.duplicates} / ${m.undecryptable} / ${m.replay} / ${m.staleEpoch}`);
  row('  republished / readings skipped offline / late (sim overload)', `${m.republished} / ${m.skipped} / ${m.late}`);
  row('device errors met (transient included)', f.simErrors);
  row('service warnings and errors logged', f.serviceWarnings);
}
