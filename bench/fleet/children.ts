/**
 * The processes of one fleet bench run, each its own child so that its CPU and RSS are its own:
 * broker (bench/fleet/run-broker.js), KDC (`fleetkey kdc`), consumer (`fleetkey tail --json`) and the
 * simulator (`fleetkey sim --progress-json --json`). Children inherit this process's open-files limit.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { SimReport } from '../../device-sim/index.js';

export const DIST = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(DIST, 'cli', 'main.js');
export const STORE_PREFIX = 'fleetbench:';

export interface Child {
  readonly name: string;
  readonly proc: ChildProcessWithoutNullStreams;
  readonly pid: number;
  stop(): Promise<void>;
}

/** `FLEET_BENCH_PROFILE=<child name>[,…]`: those children run with --cpu-prof, profiles in FLEET_BENCH_PROFILE_DIR (default cwd). */
function profileArgs(name: string): string[] {
  const wanted = (process.env.FLEET_BENCH_PROFILE ?? '').split(',');
  return wanted.includes(name) ? ['--cpu-prof', '--cpu-prof-dir', process.env.FLEET_BENCH_PROFILE_DIR ?? process.cwd()] : [];
}

export function start(name: string, args: string[], onLine: (line: string, stream: 'out' | 'err') => void): Child {
  const proc = spawn(process.execPath, [...profileArgs(name), ...args], { stdio: 'pipe', env: { ...process.env, FLEETKEY_LOG_LEVEL: 'warn' } });
  createInterface({ input: proc.stdout }).on('line', (l) => onLine(l, 'out'));
  createInterface({ input: proc.stderr }).on('line', (l) => onLine(l, 'err'));
  return {
    name,
    proc,
    pid: proc.pid!,
    async stop() {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      const gone = once(proc, 'exit');
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

/** Resolves with the first line for which `pick` returns a value; rejects if the child exits first. */
export function firstLine<T>(name: string, args: string[], pick: (line: string) => T | undefined, also?: (line: string, stream: 'out' | 'err') => void): Promise<{ child: Child; value: T }> {
  return new Promise((resolve, reject) => {
    let done = false;
    const errors: string[] = [];
    const child = start(name, args, (line, stream) => {
      also?.(line, stream);
      if (stream === 'err') errors.push(line);
      if (done) return;
      const value = stream === 'out' ? pick(line) : undefined;
      if (value !== undefined) {
        done = true;
        resolve({ child, value });
      }
    });
    child.proc.once('exit', (code) => {
      if (!done) reject(new Error(`${name} exited with ${code} before it was ready: ${errors.slice(-5).join(' | ')}`));
    });
  });
}

export const json = (line: string): Record<string, unknown> | undefined => {
  if (!line.startsWith('{')) return undefined;
  try {
    return JSON.parse(line) as Record<string, unknown>;
  } catch {
    return undefined;
  }
};

export async function startBroker(dir: string, redisUrl: string): Promise<Child & { url: string }> {
  const { child, value } = await firstLine('broker', [join(DIST, 'bench', 'fleet', 'run-broker.js'), dir, redisUrl, STORE_PREFIX], (l) => json(l)?.port as number | undefined);
  return { ...child, url: `mqtts://127.0.0.1:${value}` };
}

export async function startKdc(dir: string, redisUrl: string, brokerUrl: string): Promise<Child> {
  const args = [CLI, 'kdc', '--dir', dir, '--store', redisUrl, '--store-prefix', STORE_PREFIX, '--broker', brokerUrl, '--metrics-port', '-1', '--log-level', 'warn', '--json'];
  return (await firstLine('kdc', args, (l) => (json(l)?.service === 'kdc' ? true : undefined))).child;
}

export interface ConsumerStats {
  readonly at: number;
  readonly opened: number;
  readonly duplicate: number;
  readonly replay: number;
  readonly stale: number;
  readonly undecryptable: number;
}

/** `fleetkey tail --json --stats-every 1`: a stats line a second, kept with the time it arrived. */
export async function startConsumer(dir: string, brokerUrl: string): Promise<Child & { samples: ConsumerStats[] }> {
  const samples: ConsumerStats[] = [];
  const args = [CLI, 'tail', '--dir', dir, '--broker', brokerUrl, '--json', '--stats-every', '1', '--log-level', 'warn'];
  const keep = (line: string, stream: 'out' | 'err') => {
    const s = stream === 'out' ? json(line) : undefined;
    if (s && typeof s.opened === 'number') samples.push({ at: Date.now(), ...(s as unknown as Omit<ConsumerStats, 'at'>) });
  };
  const { child } = await firstLine('consumer', args, (l) => (json(l)?.opened !== undefined ? true : undefined), keep);
  return { ...child, samples };
}

export interface SimPhase {
  readonly at: number;
  readonly phase: 'ramp' | 'steady' | 'stopping' | 'done';
  readonly keyed: number;
  readonly sent: number;
}

/** Runs `fleetkey sim` to the end; `onPhase` is called at each phase change (to sample the other processes). */
export async function runSim(args: string[], onPhase: (p: SimPhase, pid: number) => void): Promise<{ report: SimReport; phases: SimPhase[]; code: number | null }> {
  const phases: SimPhase[] = [];
  let stdout = '';
  let last: string | undefined;
  const child = start('sim', [CLI, 'sim', '--json', '--no-progress', '--progress-json', ...args], (line, stream) => {
    if (stream === 'out') {
      stdout += `${line}\n`;
      return;
    }
    const p = json(line) as (SimPhase & { t: number }) | undefined;
    if (!p?.phase) return process.stderr.write(`  sim: ${line}\n`);
    if (p.phase === last) return;
    last = p.phase;
    const phase = { at: p.t, phase: p.phase, keyed: p.keyed, sent: p.sent };
    phases.push(phase);
    onPhase(phase, child.pid);
  });
  const [code] = (await once(child.proc, 'exit')) as [number | null];
  return { report: JSON.parse(stdout) as SimReport, phases, code };
}
