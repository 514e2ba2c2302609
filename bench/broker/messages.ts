/**
 * Workloads 3 and 4: 50 publishers → 1 wildcard subscriber (`devices/+/telemetry`), 256-byte payloads.
 * Throughput runs closed-loop: at most `window` messages are between publish and delivery, so neither
 * broker has to queue (or may drop) more than that. Latency runs open-loop at a fixed rate; each payload
 * carries its send time (the subscriber is in the same process, so one clock).
 */
import type { MqttClient } from 'mqtt';
import { connectMqtt, disconnect } from './clients.js';
import type { BenchFixtures } from './fixtures.js';
import { cpuMs } from './procstat.js';
import type { Target } from './targets.js';

export type QoS = 0 | 1;
const PAYLOAD_BYTES = 256;
const MEASURED = 1;

export interface PubSub {
  readonly pubs: readonly { client: MqttClient; topic: string }[];
  readonly sub: MqttClient;
  close(): Promise<void>;
}

export async function openPubSub(target: Target, fx: BenchFixtures, publishers: number, qos: QoS): Promise<PubSub> {
  const subConn = await connectMqtt(target.port, fx.consumerId, fx.consumerContext);
  const granted = await subConn.client.subscribeAsync('devices/+/telemetry', { qos });
  if (granted[0]?.qos !== qos) throw new Error(`${target.name}: subscription refused (${JSON.stringify(granted)})`);
  const pubs = await Promise.all(
    Array.from({ length: publishers }, async (_, i) => ({
      client: (await connectMqtt(target.port, fx.deviceId(i), fx.deviceContext(i))).client,
      topic: `devices/${fx.deviceId(i)}/telemetry`,
    })),
  );
  return {
    pubs,
    sub: subConn.client,
    close: async () => {
      await Promise.all([...pubs.map((p) => disconnect(p.client)), disconnect(subConn.client)]);
    },
  };
}

export interface ThroughputResult {
  readonly perSec: number;
  readonly cpuUsEach: number;
  readonly received: number;
  readonly lost: number;
}

/** Publishes `count` messages round-robin, `window` at most undelivered; stops after `timeoutMs`. */
function closedLoop(ps: PubSub, qos: QoS, count: number, window: number, timeoutMs: number): Promise<{ received: number; seconds: number; lost: number }> {
  const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
  let sent = 0;
  let received = 0;
  let scheduled = false;
  const started = process.hrtime.bigint();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(deadline);
      clearInterval(stall);
      ps.sub.removeListener('message', onMessage);
      resolve({ received, seconds: Number(process.hrtime.bigint() - started) / 1e9, lost: sent - received });
    };
    const pump = () => {
      scheduled = false;
      while (sent < count && sent - received < window) {
        const pub = ps.pubs[sent % ps.pubs.length]!;
        pub.client.publish(pub.topic, payload, { qos });
        sent++;
      }
    };
    const onMessage = () => {
      received++;
      if (received >= count) return finish();
      if (!scheduled && sent < count && sent - received <= window / 2) {
        scheduled = true;
        setImmediate(pump);
      }
    };
    // A broker that drops messages would stall the window: give up after 2 s without progress.
    let lastReceived = -1;
    const stall = setInterval(() => {
      if (received === lastReceived) finish();
      lastReceived = received;
    }, 2000);
    const deadline = setTimeout(finish, timeoutMs);
    ps.sub.on('message', onMessage);
    pump();
  });
}

export async function throughput(target: Target, ps: PubSub, qos: QoS, opts: { count: number; warmup: number; window: number; timeoutMs: number }): Promise<ThroughputResult> {
  await closedLoop(ps, qos, opts.warmup, opts.window, opts.timeoutMs);
  const cpuBefore = cpuMs(target.pid);
  const run = await closedLoop(ps, qos, opts.count, opts.window, opts.timeoutMs);
  const cpu = cpuMs(target.pid) - cpuBefore;
  return { perSec: run.received / run.seconds, cpuUsEach: (cpu * 1000) / Math.max(1, run.received), received: run.received, lost: run.lost };
}

export interface LatencyResult {
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly cpuUsEach: number;
  readonly sent: number;
  readonly received: number;
}

/** Open loop at `rate` msg/s: `warmupS` unmeasured, then `seconds` measured (CPU over exactly that window). */
export async function latency(target: Target, ps: PubSub, qos: QoS, opts: { rate: number; seconds: number; warmupS: number; onMeasured?: (phase: 'start' | 'end') => void }): Promise<LatencyResult> {
  const samples: number[] = [];
  const onMessage = (_topic: string, payload: Buffer) => {
    if (payload[8] === MEASURED) samples.push(Number(process.hrtime.bigint() - payload.readBigUInt64BE(0)) / 1e6);
  };
  ps.sub.on('message', onMessage);
  const publishFor = (seconds: number, flag: number) =>
    new Promise<number>((resolve) => {
      const started = performance.now();
      let sent = 0;
      const tick = setInterval(() => {
        const elapsed = performance.now() - started;
        const due = Math.min(Math.floor((elapsed * opts.rate) / 1000), opts.rate * seconds);
        for (; sent < due; sent++) {
          const pub = ps.pubs[sent % ps.pubs.length]!;
          const payload = Buffer.alloc(PAYLOAD_BYTES, 0x61);
          payload.writeBigUInt64BE(process.hrtime.bigint(), 0);
          payload[8] = flag;
          pub.client.publish(pub.topic, payload, { qos });
        }
        if (sent >= opts.rate * seconds) {
          clearInterval(tick);
          resolve(sent);
        }
      }, 1);
    });
  await publishFor(opts.warmupS, 0);
  const cpuBefore = cpuMs(target.pid);
  opts.onMeasured?.('start');
  const sent = await publishFor(opts.seconds, MEASURED);
  const cpu = cpuMs(target.pid) - cpuBefore;
  opts.onMeasured?.('end');
  await new Promise((resolve) => setTimeout(resolve, 500));
  ps.sub.removeListener('message', onMessage);
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))] ?? Number.NaN;
  return { p50Ms: at(0.5), p99Ms: at(0.99), cpuUsEach: (cpu * 1000) / sent, sent, received: samples.length };
}
