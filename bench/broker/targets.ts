/**
 * The servers under test, each a child process on its own free port of 127.0.0.1 loading the same
 * certificate files: our broker, Mosquitto 2, aedes without hooks (the naive Aedes), and two
 * Node floors: the MQTT relay (connects and messages) and the bare TLS server (idle memory).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, openSync, readdirSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { FILES } from './fixtures.js';

export type TargetName = 'fleetkey' | 'mosquitto' | 'aedes' | 'relay' | 'floor';

export interface Target {
  readonly name: TargetName;
  readonly pid: number;
  readonly port: number;
  /** process.memoryUsage() of a Node child (undefined for Mosquitto). */
  memory(): Promise<NodeJS.MemoryUsage | undefined>;
  stop(): Promise<void>;
}

export const MOSQUITTO = '/usr/sbin/mosquitto';
const RESERVED_PORTS = new Set([1883, 8883]);

async function freePort(): Promise<number> {
  for (;;) {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const address = server.address();
    server.close();
    await once(server, 'close');
    if (address && typeof address !== 'string' && !RESERVED_PORTS.has(address.port)) return address.port;
  }
}

function stopper(child: ChildProcess): () => Promise<void> {
  return async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };
}

/** A Node child of ours (run-fleetkey / run-floor): waits for its `{"port"}` line. */
async function startNodeChild(name: TargetName, entry: string, dir: string, nodeArgs: string[]): Promise<Target> {
  const child = spawn(process.execPath, [...nodeArgs, new URL(entry, import.meta.url).pathname, dir], {
    stdio: ['ignore', 'pipe', openSync(join(dir, `${name}.stderr`), 'a')],
  });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((memory: NodeJS.MemoryUsage) => void)[] = [];
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${name} child exited with ${code} before listening (see ${dir}/${name}.stderr)`)));
    lines.on('line', (line) => {
      const message = JSON.parse(line) as { port?: number; memory?: NodeJS.MemoryUsage };
      if (message.port !== undefined) resolve(message.port);
      if (message.memory !== undefined) waiting.shift()?.(message.memory);
    });
  });
  return {
    name,
    pid: child.pid!,
    port,
    memory: () =>
      new Promise((resolve) => {
        waiting.push(resolve);
        child.kill('SIGUSR2');
      }),
    stop: stopper(child),
  };
}

export function startFleetkey(dir: string, cpuProfDir?: string): Promise<Target> {
  const profile = cpuProfDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`];
  return startNodeChild('fleetkey', './run-fleetkey.js', dir, profile);
}

export function startFloor(dir: string): Promise<Target> {
  return startNodeChild('floor', './run-floor.js', dir, []);
}

export function startNaiveAedes(dir: string): Promise<Target> {
  return startNodeChild('aedes', './run-naive.js', dir, []);
}

export function startRelay(dir: string): Promise<Target> {
  return startNodeChild('relay', './run-relay.js', dir, []);
}

/** Mosquitto 2 with the settings; logs (default types) to a file, as a service would. */
export async function startMosquitto(dir: string): Promise<Target> {
  const port = await freePort();
  const config = join(dir, `mosquitto-${port}.conf`);
  writeFileSync(
    config,
    [
      'per_listener_settings false',
      'allow_anonymous false',
      'persistence false',
      'set_tcp_nodelay true',
      '# QoS 1 run: the default of 20 in flight per client stalls one wildcard subscriber',
      'max_inflight_messages 0',
      'log_dest stderr',
      `listener ${port} 127.0.0.1`,
      `cafile ${join(dir, FILES.chain)}`,
      `certfile ${join(dir, FILES.serverCert)}`,
      `keyfile ${join(dir, FILES.serverKey)}`,
      'require_certificate true',
      'use_identity_as_username true',
      '',
    ].join('\n'),
  );
  // Started as root, Mosquitto drops to its own user before it reads the certificate files.
  chmodSync(dir, 0o755);
  const child = spawn(MOSQUITTO, ['-c', config], { stdio: ['ignore', 'ignore', openSync(join(dir, `mosquitto-${port}.log`), 'a')] });
  const deadline = Date.now() + 5000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode} (see ${dir}/mosquitto-${port}.log)`);
    if (await accepts(port)) break;
    if (Date.now() > deadline) throw new Error('mosquitto did not listen within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return { name: 'mosquitto', pid: child.pid!, port, memory: async () => undefined, stop: stopper(child) };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The `.cpuprofile` files a `--cpu-prof` child wrote into `dir`. */
export function cpuProfiles(dir: string): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.cpuprofile')).map((f) => join(dir, f));
}
