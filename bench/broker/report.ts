/**
 * The table and the JSON line. Each run yields flat figures (`fleetkey.qos1.perSec` …); the table shows
 * the median of each figure over the runs, and the median of the per-run ratios (both sides of a
 * ratio are always measured in the same run, so drift between runs cancels).
 */
export type Figures = Record<string, number>;

interface Row {
  readonly label: string;
  readonly unit: string;
  readonly ours: string;
  /** Figure the ratio divides by. */
  readonly ref: string;
  readonly target?: { readonly op: '>=' | '<='; readonly x: number };
  /** Extra figures shown in the mosquitto / floor columns when the reference is something else. */
  readonly mosquitto?: string;
  readonly floor?: string;
}

const rows: readonly Row[] = [
  { label: 'fresh mTLS connect to CONNACK', unit: '/s', ours: 'fleetkey.connect.perSec', ref: 'mosquitto.connect.perSec', target: { op: '>=', x: 1.0 } },
  { label: 'broker CPU per fresh connect', unit: 'ms', ours: 'fleetkey.connect.cpuMsEach', ref: 'mosquitto.connect.cpuMsEach' },
  { label: 'resumed reconnect vs mosq fresh', unit: '/s', ours: 'fleetkey.resumed.perSec', ref: 'mosquitto.connect.perSec', target: { op: '>=', x: 1.5 } },
  { label: 'resumed reconnect vs mosq resumed', unit: '/s', ours: 'fleetkey.resumed.perSec', ref: 'mosquitto.resumed.perSec' },
  { label: 'broker CPU per resumed reconnect', unit: 'ms', ours: 'fleetkey.resumed.cpuMsEach', ref: 'mosquitto.resumed.cpuMsEach' },
  { label: 'QoS 0 throughput, 50 → 1', unit: 'msg/s', ours: 'fleetkey.qos0.perSec', ref: 'mosquitto.qos0.perSec' },
  { label: 'QoS 0 broker CPU per message', unit: 'µs', ours: 'fleetkey.qos0.cpuUsEach', ref: 'mosquitto.qos0.cpuUsEach' },
  { label: 'QoS 1 throughput, 50 → 1', unit: 'msg/s', ours: 'fleetkey.qos1.perSec', ref: 'mosquitto.qos1.perSec', target: { op: '>=', x: 1.0 } },
  { label: 'QoS 1 broker CPU per message', unit: 'µs', ours: 'fleetkey.qos1.cpuUsEach', ref: 'mosquitto.qos1.cpuUsEach' },
  { label: 'QoS 0 @1k msg/s: CPU per message', unit: 'µs', ours: 'fleetkey.lat0.cpuUsEach', ref: 'mosquitto.lat0.cpuUsEach', target: { op: '<=', x: 1.3 } },
  { label: 'QoS 0 @1k msg/s: p50', unit: 'ms', ours: 'fleetkey.lat0.p50Ms', ref: 'mosquitto.lat0.p50Ms' },
  { label: 'QoS 0 @1k msg/s: p99', unit: 'ms', ours: 'fleetkey.lat0.p99Ms', ref: 'mosquitto.lat0.p99Ms', target: { op: '<=', x: 1.5 } },
  { label: 'QoS 1 @1k msg/s: CPU per message', unit: 'µs', ours: 'fleetkey.lat1.cpuUsEach', ref: 'mosquitto.lat1.cpuUsEach', target: { op: '<=', x: 1.3 } },
  { label: 'QoS 1 @1k msg/s: p50', unit: 'ms', ours: 'fleetkey.lat1.p50Ms', ref: 'mosquitto.lat1.p50Ms' },
  { label: 'QoS 1 @1k msg/s: p99', unit: 'ms', ours: 'fleetkey.lat1.p99Ms', ref: 'mosquitto.lat1.p99Ms', target: { op: '<=', x: 1.5 } },
  { label: 'RSS per idle client @{small} vs mosq', unit: 'KB', ours: 'fleetkey.idle.small.perClientKb', ref: 'mosquitto.idle.small.perClientKb', floor: 'floor.idle.small.perClientKb' },
  { label: 'RSS per idle client @{large} vs mosq', unit: 'KB', ours: 'fleetkey.idle.large.perClientKb', ref: 'mosquitto.idle.large.perClientKb', floor: 'floor.idle.large.perClientKb' },
  { label: 'RSS per idle client @{large} vs floor', unit: 'KB', ours: 'fleetkey.idle.large.perClientKb', ref: 'floor.idle.large.perClientKb', mosquitto: 'mosquitto.idle.large.perClientKb', target: { op: '<=', x: 1.1 } },
  { label: 'floor (bare TLS) @{large} vs mosq', unit: 'KB', ours: 'floor.idle.large.perClientKb', ref: 'mosquitto.idle.large.perClientKb' },
];

export function median(values: readonly number[]): number {
  const sorted = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function medians(runs: readonly Figures[]): Figures {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r)))];
  return Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k] ?? Number.NaN))]));
}

const fmt = (v: number | undefined) =>
  v === undefined || !Number.isFinite(v) ? '–' : v >= 1000 ? Math.round(v).toLocaleString('en-US') : v >= 10 ? v.toFixed(1) : v.toFixed(2);

export interface Verdict {
  readonly metric: string;
  readonly ratio: number;
  readonly target: string;
  readonly pass: boolean;
}

/** Prints the table; returns the verdicts (targets only). `sizes` names the two idle steps. */
export function printTable(runs: readonly Figures[], sizes: { small: number; large: number }): Verdict[] {
  const med = medians(runs);
  const verdicts: Verdict[] = [];
  const header = ['metric', 'unit', 'ours', 'mosquitto', 'floor', 'ratio', 'target', 'result'];
  const lines: string[][] = [];
  for (const row of rows) {
    const label = row.label.replace('{small}', String(sizes.small)).replace('{large}', String(sizes.large));
    const ratio = median(runs.map((r) => (r[row.ours] ?? Number.NaN) / (r[row.ref] ?? Number.NaN)));
    const refIsFloor = row.ref.startsWith('floor.');
    const mosq = med[refIsFloor ? (row.mosquitto ?? '') : row.ref];
    const floor = med[refIsFloor ? row.ref : (row.floor ?? '')];
    const ours = med[row.ours];
    let target = '–';
    let result = '';
    if (row.target) {
      target = `${row.target.op === '>=' ? '≥' : '≤'} ${row.target.x}x ${refIsFloor ? 'floor' : 'mosq'}`;
      const pass = row.target.op === '>=' ? ratio >= row.target.x : ratio <= row.target.x;
      result = pass ? 'PASS' : 'MISS';
      verdicts.push({ metric: label, ratio, target, pass });
    }
    lines.push([label, row.unit, fmt(ours), fmt(mosq), fmt(floor), Number.isFinite(ratio) ? `${ratio.toFixed(2)}x` : '–', target, result]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(show(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(show(l));
  return verdicts;
}

/** Flattens a nested result object into `a.b.c` keys (numbers only). */
export function flatten(prefix: string, value: unknown, out: Figures = {}): Figures {
  if (typeof value === 'number') out[prefix] = value;
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) flatten(prefix ? `${prefix}.${k}` : k, v, out);
  return out;
}
