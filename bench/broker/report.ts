/**
 * The table and the JSON line. Each run yields flat figures (`fleetkey.qos1.perSec` …); the table shows
 * the median of each figure over the runs, and the median of the per-run ratios (both sides of a
 * ratio are always measured in the same run, so drift between runs cancels).
 */
export type Figures = Record<string, number>;

interface Row {
  readonly label: string;
  readonly unit: string;
  /** The figure, after each target's name: `connect.perSec` is `fleetkey.connect.perSec`, `aedes.…`. */
  readonly figure: string;
  /** What the ratio divides by: Mosquitto's figure (`mosquittoFigure`, default the same) or the floor's. */
  readonly ref?: 'mosquitto' | 'floor';
  readonly mosquittoFigure?: string;
  /** The Node floor of this figure: the MQTT relay (connects, messages) or the bare TLS server (memory). */
  readonly floor: 'relay' | 'floor';
  readonly target?: { readonly op: '>=' | '<='; readonly x: number };
}

const rows: readonly Row[] = [
  { label: 'fresh mTLS connect to CONNACK', unit: '/s', figure: 'connect.perSec', floor: 'relay', target: { op: '>=', x: 1.0 } },
  { label: 'broker CPU per fresh connect', unit: 'ms', figure: 'connect.cpuMsEach', floor: 'relay' },
  { label: 'resumed reconnect vs mosq fresh', unit: '/s', figure: 'resumed.perSec', mosquittoFigure: 'connect.perSec', floor: 'relay', target: { op: '>=', x: 1.5 } },
  { label: 'resumed reconnect vs mosq resumed', unit: '/s', figure: 'resumed.perSec', floor: 'relay' },
  { label: 'broker CPU per resumed reconnect', unit: 'ms', figure: 'resumed.cpuMsEach', floor: 'relay' },
  { label: 'QoS 0 throughput, 50 → 1', unit: 'msg/s', figure: 'qos0.perSec', floor: 'relay' },
  { label: 'QoS 0 broker CPU per message', unit: 'µs', figure: 'qos0.cpuUsEach', floor: 'relay' },
  { label: 'QoS 1 throughput, 50 → 1', unit: 'msg/s', figure: 'qos1.perSec', floor: 'relay', target: { op: '>=', x: 1.0 } },
  { label: 'QoS 1 broker CPU per message', unit: 'µs', figure: 'qos1.cpuUsEach', floor: 'relay' },
  { label: 'QoS 0 @1k msg/s: CPU per message', unit: 'µs', figure: 'lat0.cpuUsEach', floor: 'relay', target: { op: '<=', x: 1.3 } },
  { label: 'QoS 0 @1k msg/s: p50', unit: 'ms', figure: 'lat0.p50Ms', floor: 'relay' },
  { label: 'QoS 0 @1k msg/s: p99', unit: 'ms', figure: 'lat0.p99Ms', floor: 'relay', target: { op: '<=', x: 1.5 } },
  { label: 'QoS 1 @1k msg/s: CPU per message', unit: 'µs', figure: 'lat1.cpuUsEach', floor: 'relay', target: { op: '<=', x: 1.3 } },
  { label: 'QoS 1 @1k msg/s: p50', unit: 'ms', figure: 'lat1.p50Ms', floor: 'relay' },
  { label: 'QoS 1 @1k msg/s: p99', unit: 'ms', figure: 'lat1.p99Ms', floor: 'relay', target: { op: '<=', x: 1.5 } },
  { label: 'RSS per idle client @{small} vs mosq', unit: 'KB', figure: 'idle.small.perClientKb', floor: 'floor' },
  { label: 'RSS per idle client @{large} vs mosq', unit: 'KB', figure: 'idle.large.perClientKb', floor: 'floor' },
  { label: 'RSS per idle client @{large} vs floor', unit: 'KB', figure: 'idle.large.perClientKb', ref: 'floor', floor: 'floor', target: { op: '<=', x: 1.1 } },
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

/**
 * Prints the table; returns the verdicts (targets only). `sizes` names the two idle steps. Besides the
 * target's ratio, each row shows ours against the naive Aedes (what the broker adds, or saves, on top
 * of aedes) and the Node floor against Mosquitto (the least a broker on Node's TLS spends).
 */
export function printTable(runs: readonly Figures[], sizes: { small: number; large: number }): Verdict[] {
  const med = medians(runs);
  const verdicts: Verdict[] = [];
  const header = ['metric', 'unit', 'ours', 'aedes', 'mosquitto', 'floor', 'ratio', 'ours/aedes', 'floor/mosq', 'target', 'result'];
  const lines: string[][] = [];
  const ratioOf = (a: string, b: string) => median(runs.map((r) => (r[a] ?? Number.NaN) / (r[b] ?? Number.NaN)));
  const x = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}x` : '–');
  for (const row of rows) {
    const label = row.label.replace('{small}', String(sizes.small)).replace('{large}', String(sizes.large));
    const ours = `fleetkey.${row.figure}`;
    const mosquitto = `mosquitto.${row.mosquittoFigure ?? row.figure}`;
    const floor = `${row.floor}.${row.figure}`;
    const ratio = ratioOf(ours, row.ref === 'floor' ? floor : mosquitto);
    let target = '–';
    let result = '';
    if (row.target && Number.isFinite(ratio)) {
      target = `${row.target.op === '>=' ? '≥' : '≤'} ${row.target.x}x ${row.ref === 'floor' ? 'floor' : 'mosq'}`;
      const pass = row.target.op === '>=' ? ratio >= row.target.x : ratio <= row.target.x;
      result = pass ? 'PASS' : 'MISS';
      verdicts.push({ metric: label, ratio, target, pass });
    }
    lines.push([
      label, row.unit, fmt(med[ours]), fmt(med[`aedes.${row.figure}`]), fmt(med[mosquitto]), fmt(med[floor]),
      x(ratio), x(ratioOf(ours, `aedes.${row.figure}`)), x(ratioOf(floor, mosquitto)), target, result,
    ]);
  }
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const show = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  console.log(show(header));
  console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
  for (const l of lines) console.log(show(l));
  console.log('aedes: aedes 1.x without hooks (the naive Aedes); floor: the Node MQTT relay (connects, messages) or the bare TLS server (memory)');
  return verdicts;
}

/** Flattens a nested result object into `a.b.c` keys (numbers only). */
export function flatten(prefix: string, value: unknown, out: Figures = {}): Figures {
  if (typeof value === 'number') out[prefix] = value;
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) flatten(prefix ? `${prefix}.${k}` : k, v, out);
  return out;
}
