/**
 * `--perf`: on-CPU sampling with Linux perf of both brokers (fresh connects; QoS 0 and 1 at 1,000 msg/s),
 * split into kernel, TLS (OpenSSL), JavaScript (V8 code, interpreter, compiler, GC) and the rest, in µs
 * per operation. This is the like-for-like view: V8's `--cpu-prof` samples wall time, so on a busy
 * machine a native call such as `writev` also collects the time the broker sat preempted after waking
 * the receiver, and a TLS handshake run from C++ with no JS on the stack is not attributed at all.
 */
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { connectPass } from './connect.js';
import type { BenchFixtures } from './fixtures.js';
import { latency, openPubSub, throughput, type QoS } from './messages.js';
import { startFleetkey, startMosquitto, type Target } from './targets.js';

const OPENSSL = /ssl|tls|evp|aes|gcm|ghash|ossl|bio_|^bn_|^ec_|ecp_|openssl|crypto_|sha\d|x509|asn1|hmac|poly1305|chacha/i;

function classify(dso: string, sym: string): string {
  if (dso === '[kernel.kallsyms]') return 'kernel';
  if (dso.startsWith('[JIT]') || dso.startsWith('perf-')) return 'JS (compiled code)';
  if (dso.startsWith('libssl') || dso.startsWith('libcrypto')) return 'OpenSSL';
  if (dso === 'mosquitto') return 'mosquitto code';
  if (dso.startsWith('libc.') || dso.startsWith('libstdc++')) return 'libc (malloc, memcpy)';
  if (dso !== 'node') return 'other';
  if (sym.startsWith('Builtins_')) return 'V8 interpreter + builtins';
  if (/compiler|Compil|maglev|turbofan/i.test(sym)) return 'V8 JIT compiler';
  if (/heap|scaveng|mark|sweep|evacuat|gc|minor|major/i.test(sym) && sym.startsWith('v8::')) return 'V8 GC';
  if (sym.startsWith('v8::') || sym.startsWith('Runtime_')) return 'V8 runtime';
  if (OPENSSL.test(sym)) return 'OpenSSL';
  if (/^node::|^uv_|^uv__/.test(sym)) return 'node C++ + libuv';
  return 'node other';
}

export function perfAvailable(): boolean {
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Shares (0..1) by class of the samples in `file`. */
function classes(file: string): Map<string, number> {
  const report = execFileSync('perf', ['report', '-i', file, '--no-children', '--sort', 'dso,sym', '-g', 'none', '--stdio'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const out = new Map<string, number>();
  for (const line of report.split('\n')) {
    const m = /^\s*([\d.]+)%\s+(.+?)\s+\[[.kuH]\]\s+(.*)$/.exec(line);
    if (!m) continue;
    const cls = classify(m[2]!, m[3]!);
    out.set(cls, (out.get(cls) ?? 0) + Number(m[1]) / 100);
  }
  return out;
}

export interface PerfPlan {
  readonly connects: number;
  readonly inflight: number;
  readonly rate: number;
  readonly seconds: number;
  readonly warmupS: number;
  /** Messages pushed through a fresh broker first, so the JIT has settled (as in the main runs). */
  readonly warmMessages: number;
}

type Mark = (phase: 'start' | 'end') => void;

interface Workload {
  readonly title: string;
  readonly unit: string;
  /** Runs after a warm-up, calls `mark` around the measured phase; returns broker CPU µs per operation. */
  run(target: Target, mark: Mark): Promise<number>;
}

function workloads(fx: BenchFixtures, plan: PerfPlan): Workload[] {
  const messages = (qos: QoS): Workload => ({
    title: `QoS ${qos} at ${plan.rate} msg/s`,
    unit: 'message',
    async run(target, mark) {
      const ps = await openPubSub(target, fx, 50, qos);
      try {
        await throughput(target, ps, qos, { count: plan.warmMessages, warmup: 0, window: 1000, timeoutMs: 60_000 });
        return (await latency(target, ps, qos, { ...plan, onMeasured: mark })).cpuUsEach;
      } finally {
        await ps.close();
      }
    },
  });
  return [
    {
      title: `${plan.connects} fresh mTLS connects, ${plan.inflight} in flight`,
      unit: 'connect',
      async run(target, mark) {
        await connectPass(target, fx, { count: Math.min(200, plan.connects), inflight: plan.inflight });
        mark('start');
        const { result } = await connectPass(target, fx, { count: plan.connects, inflight: plan.inflight });
        mark('end');
        return result.cpuMsEach * 1000;
      },
    },
    messages(0),
    messages(1),
  ];
}

/** `perf record` on the target between the two marks of `work`. */
async function sampled(target: Target, work: Workload, file: string): Promise<number> {
  let perf: ReturnType<typeof spawn> | undefined;
  let stopped = false;
  try {
    return await work.run(target, (phase) => {
      if (phase === 'start') perf = spawn('perf', ['record', '-q', '-o', file, '-p', String(target.pid)], { stdio: 'ignore' });
      else stopped = perf?.kill('SIGINT') ?? false;
    });
  } finally {
    if (perf && perf.exitCode === null && perf.signalCode === null) {
      const exited = once(perf, 'exit');
      if (!stopped) perf.kill('SIGINT');
      await exited;
    }
  }
}

/** Prints, per workload, broker CPU µs per operation by class for both brokers; returns the figures. */
export async function perfBrokers(fx: BenchFixtures, plan: PerfPlan): Promise<Record<string, number>> {
  const figures: Record<string, number> = {};
  for (const [w, work] of workloads(fx, plan).entries()) {
    const rows = new Map<string, Record<string, number>>();
    const totals: Record<string, number> = {};
    for (const [name, start] of [['fleetkey', startFleetkey], ['mosquitto', startMosquitto]] as const) {
      const target = await start(fx.dir);
      const file = join(fx.dir, `perf-${name}-${w}.data`);
      try {
        totals[name] = await sampled(target, work, file);
      } finally {
        await target.stop();
      }
      for (const [cls, share] of classes(file)) {
        const row = rows.get(cls) ?? {};
        row[name] = share * totals[name]!;
        rows.set(cls, row);
        figures[`perf.${work.unit}${w}.${name}.${cls}`] = row[name]!;
      }
    }
    console.log(`\n## perf: ${work.title}: broker CPU µs per ${work.unit}, by where it is spent`);
    console.log(`| ${'where'.padEnd(26)} | fleetkey | mosquitto |`);
    console.log(`|${'-'.repeat(28)}|----------|-----------|`);
    const sorted = [...rows].sort((a, b) => (b[1].fleetkey ?? 0) - (a[1].fleetkey ?? 0));
    for (const [cls, row] of sorted) console.log(`| ${cls.padEnd(26)} | ${(row.fleetkey ?? 0).toFixed(1).padStart(8)} | ${(row.mosquitto ?? 0).toFixed(1).padStart(9)} |`);
    console.log(`| ${'total (from /proc)'.padEnd(26)} | ${totals.fleetkey!.toFixed(1).padStart(8)} | ${totals.mosquitto!.toFixed(1).padStart(9)} |`);
  }
  return figures;
}
