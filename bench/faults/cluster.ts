/**
 * The Redis-backed cluster of the faults bench, every part its own `fleetkey` child process: two
 * brokers on one Redis store (a cluster), a KDC on broker A whose info log is watched for
 * `rotation-started`. The consumer is the fleet bench's (bench/fleet/children.ts).
 */
import { CLI, firstLine, json, STORE_PREFIX, type Child } from '../fleet/children.js';

export interface BrokerChild extends Child {
  readonly url: string;
  readonly metricsUrl: string;
}

export async function startClusterBroker(dir: string, redisUrl: string, name: string): Promise<BrokerChild> {
  const args = [CLI, 'broker', '--dir', dir, '--store', redisUrl, '--store-prefix', STORE_PREFIX, '--port', '0', '--metrics-port', '0', '--log-level', 'warn', '--json'];
  const { child, value } = await firstLine(name, args, (l) => {
    const started = json(l);
    return started?.service === 'broker' ? { mqtts: String(started.mqtts), metrics: String(started.metrics) } : undefined;
  });
  return { ...child, url: value.mqtts, metricsUrl: value.metrics };
}

export interface KdcChild extends Child {
  /** Resolves with the epoch of the next `rotation-started` the KDC logs after the call. */
  nextRotationStarted(): Promise<number>;
}

export async function startWatchedKdc(dir: string, redisUrl: string, brokerUrl: string): Promise<KdcChild> {
  const waiting: ((epoch: number) => void)[] = [];
  const watch = (line: string, stream: 'out' | 'err') => {
    if (stream !== 'out' || !line.includes('"rotation-started"')) return;
    const epoch = json(line)?.epoch;
    if (typeof epoch === 'number') for (const resolve of waiting.splice(0)) resolve(epoch);
  };
  const args = [CLI, 'kdc', '--dir', dir, '--store', redisUrl, '--store-prefix', STORE_PREFIX, '--broker', brokerUrl, '--metrics-port', '-1', '--log-level', 'info', '--json'];
  const { child } = await firstLine('kdc', args, (l) => (json(l)?.service === 'kdc' ? true : undefined), watch);
  return {
    ...child,
    nextRotationStarted: () => new Promise((resolve) => waiting.push(resolve)),
  };
}

/** One Prometheus sample by metric name and exact label text (`reason="x"`), 0 when absent. */
export async function scrape(metricsUrl: string): Promise<(name: string, labels?: string) => number> {
  const text = await (await fetch(metricsUrl)).text();
  return (name, labels) => {
    const prefix = labels === undefined ? `${name} ` : `${name}{${labels}} `;
    const line = text.split('\n').find((l) => l.startsWith(prefix));
    return line === undefined ? 0 : Number(line.slice(prefix.length));
  };
}
