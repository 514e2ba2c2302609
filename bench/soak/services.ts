/**
 * The services of one soak, each a child process on fixed ports so that a restarted broker is found
 * where its devices left it: `fleetkey up` (provisioner, broker and KDC on the data dir's file: store),
 * or two `fleetkey broker` processes on one Redis store and a `fleetkey kdc` on broker A.
 * A restart is SIGKILL, then the same command again.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { CLI, firstLine, json, type Child } from '../fleet/children.js';
import { freePort } from '../free-port.js';
import { SOAK_PREFIX, type SoakSetup } from './setup.js';

/** Warnings and errors the services logged, by `<service> <event>` (what to read after a run). */
export class LogTally {
  readonly counts: Record<string, number> = {};
  readonly samples: string[] = [];

  watch(service: string): (line: string, stream: 'out' | 'err') => void {
    return (line) => {
      const entry = json(line);
      if (typeof entry?.level !== 'number' || entry.level < 40) return;
      const key = `${service} ${String(entry.event ?? entry.msg ?? 'unnamed')}`;
      this.counts[key] = (this.counts[key] ?? 0) + 1;
      if (this.samples.length < 20 && this.counts[key] <= 2) this.samples.push(line.slice(0, 600));
    };
  }
}

/** One broker process that can be killed and started again on the same ports. */
export interface SoakBroker {
  readonly name: string;
  readonly url: string;
  readonly metricsUrl: string;
  /** The running process's pid (a new one after each restart). */
  pid(): number;
  /** SIGKILL, wait for the exit. */
  kill(): Promise<void>;
  /** Starts it again; resolves with when the MQTT port accepted a TCP connection again and when the service said it started (ms since the Unix epoch). */
  start(): Promise<{ listenedAt: number; readyAt: number }>;
  stop(): Promise<void>;
}

export interface SoakServices {
  readonly brokers: readonly SoakBroker[];
  /** The broker the consumer connects to. */
  readonly consumerBroker: SoakBroker;
  /** Extra processes (the cluster's KDC), stopped last-in first-out. */
  stop(): Promise<void>;
  /** `up`'s provisioner and admin token, for the REST rotation (embedded only). */
  readonly provisioner: { url: string; tokenFile: string } | undefined;
}


/** Resolves at the first TCP connection `port` accepts (ms since the Unix epoch). */
async function listening(port: number, gaveUp: () => boolean): Promise<number> {
  while (!gaveUp()) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return Date.now();
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Number.NaN;
}

/** A restartable service process on fixed ports; its `--json` line naming `mqtts` says it started. */
function restartable(name: string, port: number, metricsPort: number, args: string[], logs: LogTally): SoakBroker & { started: Record<string, unknown> } {
  let child: Child | undefined;
  const handle = {
    name,
    url: `mqtts://127.0.0.1:${port}`,
    metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
    started: {} as Record<string, unknown>,
    pid: () => child?.pid ?? 0,
    async kill() {
      const proc = child?.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = once(proc, 'exit');
      proc.kill('SIGKILL');
      await gone;
    },
    async start() {
      let failed = false;
      const listened = listening(port, () => failed);
      const { child: c, value } = await firstLine(name, args, (l) => {
        const line = json(l);
        return typeof line?.mqtts === 'string' ? line : undefined;
      }, logs.watch(name)).catch((err: unknown) => {
        failed = true;
        throw err;
      });
      child = c;
      handle.started = value;
      return { listenedAt: await listened, readyAt: Date.now() };
    },
    stop: () => child?.stop() ?? Promise.resolve(),
  };
  return handle;
}

/** `fleetkey up` on the data dir: the embedded stack, one process. */
export async function startEmbedded(setup: SoakSetup, logs: LogTally): Promise<SoakServices> {
  const [mqtt, https, metrics] = [await freePort(), await freePort(), await freePort()];
  const args = [CLI, 'up', '--dir', setup.dir, '--host', '127.0.0.1', '--mqtt-port', String(mqtt), '--https-port', String(https),
    '--metrics-port', String(metrics), '--kdc-metrics-port', '-1', '--log-level', 'warn', '--json'];
  const up = restartable('up', mqtt, metrics, args, logs);
  await up.start();
  return {
    brokers: [up],
    consumerBroker: up,
    provisioner: { url: String(up.started.provisioner), tokenFile: String(up.started.adminToken) },
    stop: () => up.stop(),
  };
}

/** Two brokers on the Redis store (a cluster) and a KDC on broker A; the consumer is on broker B. */
export async function startCluster(setup: SoakSetup, logs: LogTally): Promise<SoakServices> {
  const broker = async (name: string) => {
    const [mqtt, metrics] = [await freePort(), await freePort()];
    const args = [CLI, 'broker', '--dir', setup.dir, '--store', setup.storeUrl, '--store-prefix', SOAK_PREFIX, '--host', '127.0.0.1',
      '--port', String(mqtt), '--metrics-port', String(metrics), '--log-level', 'warn', '--json'];
    const b = restartable(name, mqtt, metrics, args, logs);
    await b.start();
    return b;
  };
  const a = await broker('broker-a');
  const b = await broker('broker-b');
  const kdcArgs = [CLI, 'kdc', '--dir', setup.dir, '--store', setup.storeUrl, '--store-prefix', SOAK_PREFIX, '--broker', a.url, '--metrics-port', '-1', '--log-level', 'warn', '--json'];
  const { child: kdc } = await firstLine('kdc', kdcArgs, (l) => (json(l)?.service === 'kdc' ? true : undefined), logs.watch('kdc'));
  return {
    brokers: [a, b],
    consumerBroker: b,
    provisioner: undefined,
    async stop() {
      await kdc.stop();
      await b.stop();
      await a.stop();
    },
  };
}
