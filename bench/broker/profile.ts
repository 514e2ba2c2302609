/**
 * `--profile`: our broker child under `node --cpu-prof`, once per workload (fresh connects; QoS 0 and
 * QoS 1 at 1,000 msg/s; each after a warm-up, as in the main runs), then a summary of each `.cpuprofile`: busy time by package and the top frames
 * by self and by inclusive time. The profiles are kept for DevTools.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connectPass } from './connect.js';
import type { BenchFixtures } from './fixtures.js';
import { latency, openPubSub, throughput } from './messages.js';
import { cpuMs } from './procstat.js';
import { cpuProfiles, startFleetkey, type Target } from './targets.js';

interface CallFrame { functionName: string; url: string; lineNumber: number }
interface ProfileNode { id: number; callFrame: CallFrame; children?: number[] }
interface CpuProfile { nodes: ProfileNode[]; startTime: number; samples: number[]; timeDeltas: number[] }

/** A measured phase in µs of CLOCK_MONOTONIC: V8's profile clock and process.hrtime agree on Linux. */
export type Window = readonly [startUs: number, endUs: number];

export const nowUs = () => Number(process.hrtime.bigint() / 1000n);

// (program) is native work outside JS (TLS handshakes, libuv): busy, not idle.
const IDLE = new Set(['(idle)', '(root)']);

function place(url: string): string {
  const path = url.replace(/^file:\/\//, '');
  const nm = path.lastIndexOf('/node_modules/');
  if (nm >= 0) return path.slice(nm + 14);
  const dist = path.indexOf('/dist/');
  if (dist >= 0) return `fleetkey:${path.slice(dist + 6)}`;
  return path;
}

function category(frame: CallFrame): string {
  if (!frame.url) return frame.functionName.startsWith('(') ? frame.functionName : '(native)';
  const p = place(frame.url);
  if (p.startsWith('fleetkey:')) return `fleetkey ${p.slice(9).split('/')[0]}/`;
  if (p.startsWith('node:internal/')) return `node:${p.slice(14).split('/')[0]!.replace(/\.js$/, '')}`;
  if (p.startsWith('node:')) return p;
  const parts = p.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

const key = (f: CallFrame) => `${f.functionName || '(anonymous)'} ${f.url ? `${place(f.url)}:${f.lineNumber + 1}` : ''}`.trim();

export interface ProfileSummary {
  readonly busyMs: number;
  readonly categories: [string, number][];
  readonly self: [string, number][];
  readonly inclusive: [string, number][];
}

/** Summary of the samples inside `window` (all samples without one). */
export function summarize(file: string, window?: Window, top = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const categories = new Map<string, number>();
  let busy = 0;
  let at = profile.startTime;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id)!;
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    const ms = delta / 1000;
    if (IDLE.has(node.callFrame.functionName) || (window && (at < window[0] || at > window[1]))) return;
    busy += ms;
    self.set(key(node.callFrame), (self.get(key(node.callFrame)) ?? 0) + ms);
    categories.set(category(node.callFrame), (categories.get(category(node.callFrame)) ?? 0) + ms);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const frame = byId.get(n)!.callFrame;
      const k = key(frame);
      if (seen.has(k) || IDLE.has(frame.functionName) || !frame.url || frame.url.startsWith('node:')) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + ms);
    }
  });
  const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { busyMs: busy, categories: sorted(categories), self: sorted(self), inclusive: sorted(inclusive) };
}

function print(title: string, file: string, s: ProfileSummary, measured: Measured, unit: string): void {
  const pct = (ms: number) => `${((100 * ms) / s.busyMs).toFixed(1).padStart(5)}%`;
  const each = (ms: number) => ((ms * 1000) / measured.ops).toFixed(0);
  console.log(`\n## profile: ${title}: ${each(measured.cpuMs)} µs CPU per ${unit} (/proc); samples: ${each(s.busyMs)} µs wall per ${unit}`);
  console.log(`   ${file}`);
  console.log('   (wall-clock samples: native calls such as writev also hold time spent preempted; see --perf for on-CPU)');
  console.log(`by package:  ${s.categories.map(([k, v]) => `${k} ${pct(v).trim()}`).join(', ')}`);
  console.log('top self:');
  for (const [k, v] of s.self) console.log(`  ${pct(v)}  ${k}`);
  console.log('top inclusive (JS outside node core):');
  for (const [k, v] of s.inclusive) console.log(`  ${pct(v)}  ${k}`);
}

interface Measured {
  readonly ops: number;
  readonly window: Window;
  /** Broker CPU in the window, from /proc. */
  readonly cpuMs: number;
}

/** `work` calls `mark('start')` and `mark('end')` around its measured phase and returns the operations done in it. */
type Work = (target: Target, mark: (phase: 'start' | 'end') => void) => Promise<number>;

async function profiled(fx: BenchFixtures, title: string, unit: string, work: Work): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetkey-broker-profile-'));
  const target = await startFleetkey(fx.dir, dir);
  let measured: Measured;
  try {
    const at = { start: 0, end: 0 };
    const cpu = { start: 0, end: 0 };
    const ops = await work(target, (phase) => {
      at[phase] = nowUs();
      cpu[phase] = cpuMs(target.pid);
    });
    measured = { ops, window: [at.start, at.end], cpuMs: cpu.end - cpu.start };
  } finally {
    await target.stop();
  }
  const [file] = cpuProfiles(dir);
  if (!file) throw new Error(`no .cpuprofile in ${dir}`);
  print(title, file, summarize(file, measured.window), measured, unit);
}

export async function profileBroker(
  fx: BenchFixtures,
  plan: { connects: number; inflight: number; publishers: number; warmMessages: number; latency: { rate: number; seconds: number; warmupS: number } },
): Promise<void> {
  await profiled(fx, `${plan.connects} fresh mTLS connects, ${plan.inflight} in flight`, 'connect', async (t, mark) => {
    await connectPass(t, fx, { count: Math.min(200, plan.connects), inflight: plan.inflight });
    mark('start');
    const { result } = await connectPass(t, fx, { count: plan.connects, inflight: plan.inflight });
    mark('end');
    return result.connects;
  });
  for (const qos of [0, 1] as const) {
    await profiled(fx, `QoS ${qos} at ${plan.latency.rate} msg/s`, 'message', async (t, mark) => {
      const ps = await openPubSub(t, fx, plan.publishers, qos);
      try {
        await throughput(t, ps, qos, { count: plan.warmMessages, warmup: 0, window: 1000, timeoutMs: 60_000 });
        const r = await latency(t, ps, qos, { ...plan.latency, onMeasured: mark });
        return r.sent;
      } finally {
        await ps.close();
      }
    });
  }
}
