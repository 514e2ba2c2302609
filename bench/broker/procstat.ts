/** CPU time and memory of another process, from /proc (Linux). */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicks(): number {
  ticksPerSecond ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return ticksPerSecond;
}

/** utime + stime of `pid` in ms (proc(5): fields 14 and 15, counted after the parenthesised comm). */
export function cpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/stat`);
}

/** utime + stime of the calling thread in ms: the event loop's own CPU, without worker or pool threads. */
export function threadCpuMs(): number {
  return statCpuMs('/proc/thread-self/stat');
}

function statCpuMs(path: string): number {
  const stat = readFileSync(path, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / clockTicks();
}

/** VmRSS of `pid` in KiB. */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

/** Soft and hard RLIMIT_NOFILE of `pid` ('self' by default). */
export function fdLimits(pid: number | 'self' = 'self'): { soft: number; hard: number } {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\S+)\s+(\S+)/m.exec(limits);
  const parse = (v: string | undefined) => (v === undefined || v === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(v));
  return { soft: parse(match?.[1]), hard: parse(match?.[2]) };
}

/** Load averages and core count, to say whether the machine was busy. */
export function machineLoad(): { load1: number; load5: number; cores: number } {
  const [load1, load5] = readFileSync('/proc/loadavg', 'utf8').split(' ').map(Number);
  const cores = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)?.length ?? 1;
  return { load1: load1 ?? 0, load5: load5 ?? 0, cores };
}
