/**
 * Workload 5: RSS per idle mutual-TLS client. A fresh server process serves a few clients that leave
 * again (so one-time costs such as lazily built caches and compiled code are paid), is measured empty,
 * then with each step's number of connected, idle clients (MQTT.js to CONNACK for the brokers, a bare
 * TLS handshake for the floor), after it has settled. Per client = (RSS - empty RSS) / clients.
 */
import type { TLSSocket } from 'node:tls';
import type { MqttClient } from 'mqtt';
import { connectMqtt, connectRawTls, disconnect, pool } from './clients.js';
import type { BenchFixtures } from './fixtures.js';
import { rssKb } from './procstat.js';
import type { Target } from './targets.js';

export interface IdleStep {
  readonly clients: number;
  readonly rssKb: number;
  readonly perClientKb: number;
  /** JS heap used and external memory of a Node server, KiB (absent for Mosquitto). */
  readonly heapUsedKb?: number;
  readonly externalKb?: number;
}

export interface IdleResult {
  readonly emptyRssKb: number;
  readonly steps: readonly IdleStep[];
  readonly failures: number;
}

const settle = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const WARM_CLIENTS = 20;

async function warmUp(target: Target, fx: BenchFixtures): Promise<void> {
  await pool(WARM_CLIENTS, 4, async (i) => {
    if (target.name === 'floor') (await connectRawTls(target.port, fx.deviceContext(i))).destroy();
    else await disconnect((await connectMqtt(target.port, fx.deviceId(i), fx.deviceContext(i))).client);
  });
}

export async function idleRss(target: Target, fx: BenchFixtures, steps: readonly number[], opts: { inflight: number; settleMs: number }): Promise<IdleResult> {
  const clients: MqttClient[] = [];
  const sockets: TLSSocket[] = [];
  let failures = 0;
  await warmUp(target, fx);
  await settle(opts.settleMs);
  const emptyRssKb = rssKb(target.pid);
  const results: IdleStep[] = [];
  let connected = 0;
  try {
    for (const step of steps) {
      const from = connected;
      await pool(step - from, opts.inflight, async (k) => {
        const i = from + k;
        try {
          if (target.name === 'floor') sockets.push(await connectRawTls(target.port, fx.deviceContext(i)));
          else clients.push((await connectMqtt(target.port, fx.deviceId(i), fx.deviceContext(i), { keepalive: 3600 })).client);
        } catch {
          failures++;
        }
      });
      connected = step;
      await settle(opts.settleMs);
      const rss = rssKb(target.pid);
      const memory = await target.memory();
      const live = clients.length + sockets.length;
      results.push({
        clients: live,
        rssKb: rss,
        perClientKb: (rss - emptyRssKb) / Math.max(1, live),
        ...(memory ? { heapUsedKb: memory.heapUsed / 1024, externalKb: memory.external / 1024 } : {}),
      });
    }
  } finally {
    for (const socket of sockets) socket.destroy();
    await Promise.all(clients.map((c) => disconnect(c, true)));
  }
  return { emptyRssKb, steps: results, failures };
}
