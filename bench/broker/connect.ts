/**
 * Workloads 1 and 2: mutual-TLS connections to CONNACK, `inflight` at a time. Each connection uses
 * its own device identity, sends DISCONNECT right after CONNACK and keeps the TLS session the broker
 * offered, so a second pass can reconnect with session resumption.
 */
import type { BenchFixtures } from './fixtures.js';
import { connectMqtt, disconnect, pool } from './clients.js';
import { cpuMs } from './procstat.js';
import type { Target } from './targets.js';

export interface ConnectResult {
  readonly connects: number;
  readonly perSec: number;
  /** Broker CPU (user + system) per connection, ms, including the DISCONNECT and close. */
  readonly cpuMsEach: number;
  /** Share of handshakes that resumed a TLS session (0 for a fresh pass). */
  readonly resumedShare: number;
  readonly failures: number;
  /** Wall time of the pass and broker CPU over it, for adding passes up. */
  readonly seconds: number;
  readonly cpuMs: number;
}

export interface ConnectPass {
  readonly result: ConnectResult;
  /** TLS session per connection index, for a resumption pass. */
  readonly sessions: (Buffer | undefined)[];
}

export async function connectPass(
  target: Target,
  fx: BenchFixtures,
  opts: { count: number; inflight: number; sessions?: readonly (Buffer | undefined)[]; offset?: number },
): Promise<ConnectPass> {
  const offset = opts.offset ?? 0;
  const sessions: (Buffer | undefined)[] = new Array(offset + opts.count).fill(undefined);
  const closing: Promise<void>[] = [];
  let resumed = 0;
  let failures = 0;
  const cpuBefore = cpuMs(target.pid);
  const started = process.hrtime.bigint();
  await pool(opts.count, opts.inflight, async (k) => {
    const i = offset + k;
    const device = i % fx.devices;
    try {
      const conn = await connectMqtt(target.port, fx.deviceId(device), fx.deviceContext(device), { session: opts.sessions?.[i] });
      if (conn.resumed) resumed++;
      closing.push(
        conn.session.then(async (session) => {
          sessions[i] = session;
          await disconnect(conn.client);
        }),
      );
    } catch {
      failures++;
    }
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  await Promise.all(closing);
  await new Promise((resolve) => setTimeout(resolve, 300));
  const cpu = cpuMs(target.pid) - cpuBefore;
  const done = opts.count - failures;
  return {
    result: { connects: done, perSec: done / seconds, cpuMsEach: cpu / Math.max(1, done), resumedShare: resumed / Math.max(1, done), failures, seconds, cpuMs: cpu },
    sessions,
  };
}

/**
 * `count` connects through each server, in `rounds` that take turns between the servers. One server's
 * whole pass after another's put seconds of the machine's drift between the two sides of a ratio
 * (per-run connect ratios moved from 0.77x to 1.17x); in turns, the drift falls on every server alike.
 * Round r connects devices r·count/rounds onwards, so a resumption pass (`resume`: the fresh passes)
 * offers each device its own session.
 */
export async function connectPasses<N extends string>(
  targets: Readonly<Record<N, Target>>,
  fx: BenchFixtures,
  opts: { count: number; inflight: number; rounds: number; resume?: Readonly<Record<N, ConnectPass>> },
): Promise<Record<N, ConnectPass>> {
  const names = Object.keys(targets) as N[];
  const rounds = Math.max(1, Math.min(opts.rounds, opts.count));
  const parts = new Map<N, ConnectPass[]>(names.map((name) => [name, []]));
  for (let r = 0; r < rounds; r++) {
    const offset = Math.floor((r * opts.count) / rounds);
    const count = Math.floor(((r + 1) * opts.count) / rounds) - offset;
    for (const name of names) {
      const sessions = opts.resume?.[name].sessions;
      parts.get(name)!.push(await connectPass(targets[name], fx, { count, inflight: opts.inflight, offset, ...(sessions ? { sessions } : {}) }));
    }
  }
  const out = {} as Record<N, ConnectPass>;
  for (const name of names) out[name] = addUp(parts.get(name)!, opts.count);
  return out;
}

function addUp(passes: readonly ConnectPass[], count: number): ConnectPass {
  const sum = (f: (p: ConnectPass) => number) => passes.reduce((total, p) => total + f(p), 0);
  const connects = sum((p) => p.result.connects);
  const seconds = sum((p) => p.result.seconds);
  const cpuMs = sum((p) => p.result.cpuMs);
  const sessions: (Buffer | undefined)[] = new Array(count).fill(undefined);
  for (const pass of passes) pass.sessions.forEach((session, i) => (sessions[i] = session ?? sessions[i]));
  return {
    result: {
      connects,
      perSec: connects / seconds,
      cpuMsEach: cpuMs / Math.max(1, connects),
      resumedShare: sum((p) => p.result.resumedShare * p.result.connects) / Math.max(1, connects),
      failures: sum((p) => p.result.failures),
      seconds,
      cpuMs,
    },
    sessions,
  };
}
