/** A broker process with a publishing device, a subscriber that keeps up and subscribers that are SIGSTOPped (the process-broker-* fault tests). */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IClientOptions } from 'mqtt';
import type { Test } from 'tap';
import { openStore } from '../../store/index.js';
import { onLine, spawnTs } from '../helpers/spawn-ts.js';
import { tempDir } from '../helpers/tmp.js';
import { metricValue } from './scrape.js';
import { until, type BrokerProcess, type FaultFleet } from '../faults/broker-cluster.js';

const PAYLOAD_BYTES = 512;
const TOPIC = 'devices/dev-pub/telemetry';

export function rssKiB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith(`${field}:`));
  return Number(/(\d+)/.exec(line ?? '')?.[1]);
}

/** Arguments that connect a mosquitto client with the identity MQTT.js would connect with (files written to `dir`). */
function clientArgs(dir: string, url: string, opts: IClientOptions): string[] {
  const id = String(opts.clientId);
  const files = { ca: join(dir, `${id}-ca.pem`), cert: join(dir, `${id}.pem`), key: join(dir, `${id}.key`) };
  writeFileSync(files.ca, (opts.ca as string[]).join(''));
  writeFileSync(files.cert, String(opts.cert));
  writeFileSync(files.key, String(opts.key), { mode: 0o600 });
  return ['-h', '127.0.0.1', '-p', new URL(url).port, '-V', 'mqttv311', '-i', id, '--cafile', files.ca, '--cert', files.cert, '--key', files.key];
}

/** mosquitto_sub in its own process, QoS 1 on every device's telemetry, counting what it receives (`x` and a newline each). */
function subscriber(tt: Test, args: string[]): { child: ChildProcess; count(): number } {
  const child = spawn('mosquitto_sub', [...args, '-k', '600', '-q', '1', '-t', 'devices/+/telemetry', '-F', 'x'], { stdio: ['ignore', 'pipe', 'ignore'] });
  tt.teardown(() => void child.kill('SIGKILL'));
  let bytes = 0;
  child.stdout!.on('data', (chunk: Buffer) => (bytes += chunk.length));
  return { child, count: () => bytes / 2 };
}

/** A device publishing from a node child of its own (test/broker/fixtures/publisher.ts), one connection for the whole test (a new one would be refused while the broker is over its cap). */
async function publisher(tt: Test, dir: string, url: string, opts: IClientOptions): Promise<(count: number) => Promise<void>> {
  const configFile = join(dir, 'publisher.json');
  writeFileSync(configFile, JSON.stringify({ ...opts, url, topic: TOPIC, payloadBytes: PAYLOAD_BYTES }), { mode: 0o600 });
  const child = spawnTs(tt, 'test/broker/fixtures/publisher.ts', [configFile]);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  let exited: Error | undefined;
  child.on('exit', (code) => (exited = new Error(`publisher exited ${code}: ${stderr}`)));
  let done = 0;
  onLine(child, (line) => (done = Number(line.split(' ')[1])));
  let asked = 0;
  return async (count) => {
    if (exited) throw exited;
    asked += count;
    child.stdin.write(`${count}\n`);
    await until(() => done === asked || exited !== undefined, 60_000, `${asked} messages published`);
    if (exited) throw exited;
  };
}

export function dropped(broker: BrokerProcess, clientId: string) {
  return broker.logs.filter((l) => l.event === 'slow-client-dropped' && l.clientId === clientId);
}

/** A broker process on a store of its own, a device that publishes and a subscriber that keeps up. */
export async function setUp(tt: Test, fleet: FaultFleet, args: string[]) {
  const dir = tempDir(tt);
  const storeDir = join(dir, 'store');
  const setupStore = await openStore(`file:${storeDir}`);
  const device = await fleet.device(setupStore, 'dev-pub');
  await setupStore.close();
  const broker = await fleet.broker(`file:${storeDir}`, ['--metrics-port', '0', ...args]);
  const metricsUrl = String(broker.logs.find((l) => l.service === 'broker')?.metrics);
  const publish = await publisher(tt, dir, broker.url, device);
  const counts = { sent: 0 };
  const fast = subscriber(tt, clientArgs(dir, broker.url, fleet.service('consumer', 'fast')));
  /** Publishes `n` and waits until the running subscriber has every message sent so far. */
  const round = async (n: number) => {
    await publish(n);
    counts.sent += n;
    await until(() => fast.count() === counts.sent, 60_000, `the running subscriber to have ${counts.sent} messages`);
  };
  /** A subscriber is subscribed once a message published after its start has reached it. */
  const subscribed = async (sub: { count(): number }) => {
    while (sub.count() === 0) {
      await publish(1);
      counts.sent++;
      await until(() => sub.count() > 0 || fast.count() === counts.sent, 30_000, 'a probe message');
    }
    await until(() => fast.count() === counts.sent, 30_000, 'the probe messages');
  };
  await subscribed(fast);
  /** Rounds of 500 until a stopped subscriber's socket is full (the running one has all: the buffered bytes are the stopped one's). */
  const fill = async () => {
    while ((await metricValue(metricsUrl, 'fleetkey_broker_outbound_buffered_bytes')) === 0) {
      if (counts.sent >= 50_000) throw new Error('the stopped subscriber never filled its socket');
      await round(500);
    }
  };
  /** A mosquitto_sub that is subscribed, then SIGSTOPped. */
  const stopped = async (name: string) => {
    const sub = subscriber(tt, clientArgs(dir, broker.url, fleet.service('consumer', name)));
    await subscribed(sub);
    process.kill(sub.child.pid!, 'SIGSTOP');
    return sub;
  };
  return { broker, metricsUrl, counts, fast, round, fill, stopped };
}

