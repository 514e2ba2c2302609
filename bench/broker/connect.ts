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
}

export interface ConnectPass {
  readonly result: ConnectResult;
  /** TLS session per connection index, for a resumption pass. */
  readonly sessions: (Buffer | undefined)[];
}

export async function connectPass(
  target: Target,
  fx: BenchFixtures,
  opts: { count: number; inflight: number; sessions?: readonly (Buffer | undefined)[] },
): Promise<ConnectPass> {
  const sessions: (Buffer | undefined)[] = new Array(opts.count).fill(undefined);
  const closing: Promise<void>[] = [];
  let resumed = 0;
  let failures = 0;
  const cpuBefore = cpuMs(target.pid);
  const started = process.hrtime.bigint();
  await pool(opts.count, opts.inflight, async (i) => {
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
    result: { connects: done, perSec: done / seconds, cpuMsEach: cpu / Math.max(1, done), resumedShare: resumed / Math.max(1, done), failures },
    sessions,
  };
}
