import { execFileSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { createConsumer, type Consumer, type TelemetryMessage } from '../../consumer/index.js';
import type { SimReport } from '../../device-sim/index.js';
import { exited, onLine, runCli, spawnTs } from '../helpers/spawn-ts.js';
import { httpsCall, until } from './store-services-process.js';
import { testLogger } from '../helpers/fleet.js';
import { tempDir } from '../helpers/tmp.js';

/**
 * Processes with a shifted clock: libfaketime preloaded into the child (`faketime -f '-2m' node …`
 * without the wrapper, so that spawnTs can run it). Node's Date and OpenSSL's certificate checks both
 * follow it. The preload path is the one the `faketime` wrapper itself sets.
 */
const PRELOAD = execFileSync('faketime', ['-f', '+0', 'sh', '-c', 'printf %s "$LD_PRELOAD"'], { encoding: 'utf8' });

export function skewed(offset: string): NodeJS.ProcessEnv {
  return { ...process.env, LD_PRELOAD: PRELOAD, FAKETIME: offset };
}

/** `fleetkey up` on `dir` (made on first run): its endpoints and its JSON log lines. */
export interface UpProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly dir: string;
  readonly provisioner: string;
  readonly mqtts: string;
  readonly lines: Record<string, unknown>[];
  events(event: string): Record<string, unknown>[];
}

/** A data dir made by `fleetkey init` with this clock (e.g. `skewed('-20m')`: a fleet CA 20 minutes old). */
export async function initDir(t: Test, env?: NodeJS.ProcessEnv): Promise<string> {
  const dir = join(tempDir(t), 'data');
  const init = await runCli(t, ['init', '--dir', dir], env);
  if (init.code !== 0) throw new Error(`fleetkey init: ${init.stderr}`);
  return dir;
}

export async function startUp(t: Test, opts: { dir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<UpProcess> {
  const dir = opts.dir ?? join(tempDir(t), 'data');
  const { env } = opts;
  const child = spawnTs(t, 'cli/main.ts', ['up', '--dir', dir, '--mqtt-port', '0', '--https-port', '0', '--metrics-port', '-1', '--switch-after', '3', '--json'], env);
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const endpoints = await new Promise<Record<string, unknown>>((resolve, reject) => {
    onLine(child, (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (typeof parsed.mqtts === 'string') resolve(parsed);
      } catch {
        // not JSON
      }
    });
    void exited(child).then(({ code }) => reject(new Error(`fleetkey up exited (${code}): ${stderr}`)));
  });
  return {
    child, dir, lines, provisioner: String(endpoints.provisioner), mqtts: String(endpoints.mqtts),
    events: (event) => lines.filter((l) => l.event === event),
  };
}

/** Registers `count` devices per prefix (one `fleetkey devices add`) and writes a `--tokens` file per prefix. */
export async function tokensFiles(t: Test, dir: string, prefixes: readonly string[], count: number, env?: NodeJS.ProcessEnv): Promise<string[]> {
  const ids = prefixes.flatMap((p) => Array.from({ length: count }, (_, i) => `${p}dev${i}`));
  const added = await runCli(t, ['devices', 'add', ...ids, '--dir', dir, '--json'], env);
  if (added.code !== 0) throw new Error(`devices add: ${added.stderr}`);
  const { devices } = JSON.parse(added.stdout) as { devices: { id: string; token: string }[] };
  return prefixes.map((prefix) => {
    const file = join(tempDir(t), `${prefix}tokens.csv`);
    writeFileSync(file, `id,token\n${devices.filter((d) => d.id.startsWith(prefix)).map((d) => `${d.id},${d.token}`).join('\n')}\n`);
    return file;
  });
}

/** A `fleetkey sim` run: its exit, its JSON report, and the `keyed` count of its progress lines as they come. */
export interface SimRun {
  readonly done: Promise<{ code: number | null; report: SimReport; stderr: string }>;
  keyed(): number;
  /** SIGINT: the sim stops its devices and prints its report. */
  stop(): void;
}

export function runSim(t: Test, args: string[], env?: NodeJS.ProcessEnv): SimRun {
  const child = spawnTs(t, 'cli/main.ts', ['sim', '--json', '--no-progress', '--progress-json', ...args], env);
  let stdout = '';
  let stderr = '';
  let keyed = 0;
  child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    stderr += s;
    for (const [, n] of s.matchAll(/"keyed":(\d+)/g)) keyed = Math.max(keyed, Number(n));
  });
  const done = exited(child).then(({ code }) => ({ code, report: JSON.parse(stdout) as SimReport, stderr }));
  return { done, keyed: () => keyed, stop: () => child.kill('SIGINT') };
}

/** A decrypting consumer (the data dir's consumer certificate) at this process's clock, and what it opened. */
export async function startConsumer(t: Test, dir: string, url: string): Promise<{ consumer: Consumer; opened: TelemetryMessage[] }> {
  const read = (file: string) => readFileSync(join(dir, file), 'utf8');
  const opened: TelemetryMessage[] = [];
  const consumer = await createConsumer({
    broker: { url, ca: [read('ca/chain.pem')], cert: read('services/consumer.pem'), key: read('services/consumer.key') }, logger: testLogger(),
  }, (m) => opened.push(m));
  t.teardown(() => consumer.close());
  return { consumer, opened };
}

/** Messages opened for devices whose id starts with `prefix`. */
export const openedFor = (opened: readonly TelemetryMessage[], prefix: string): number => opened.filter((m) => m.deviceId.startsWith(prefix)).length;

/**
 * A rotation through the admin API (POST /v1/rotations), then waits until `acks` devices acknowledged
 * the new epoch. Returns the new epoch.
 */
export async function rotate(up: UpProcess, acks: number, switchAfterSeconds = 2): Promise<number> {
  const ca = [readFileSync(join(up.dir, 'ca/chain.pem'), 'utf8')];
  const headers = { authorization: `Bearer ${readFileSync(join(up.dir, 'provisioner/admin.token'), 'utf8').trim()}`, 'content-type': 'application/json' };
  const current = async () => (JSON.parse((await httpsCall(up.provisioner, ca, 'GET', '/v1/rotations/current?unacked=0', headers)).body) as { epoch: { epoch: number; acked: number } | null }).epoch;
  const before = (await current())?.epoch ?? 0;
  const asked = await httpsCall(up.provisioner, ca, 'POST', '/v1/rotations', headers, JSON.stringify({ switchAfterSeconds }));
  if (asked.status !== 202) throw new Error(`POST /v1/rotations: ${asked.status} ${asked.body}`);
  let epoch = 0;
  await until(async () => {
    const now = await current();
    epoch = now?.epoch ?? 0;
    return epoch > before && (now?.acked ?? 0) >= acks;
  }, 40_000, `${acks} acks of the rotation`);
  return epoch;
}

/** Devices with `prefix` whose messages the consumer opened under `epoch`. */
export const devicesOn = (opened: readonly TelemetryMessage[], prefix: string, epoch: number): number =>
  new Set(opened.filter((m) => m.deviceId.startsWith(prefix) && m.header.epoch === epoch).map((m) => m.deviceId)).size;
