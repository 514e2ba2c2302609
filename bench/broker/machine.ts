/** The machine the bench runs on: descriptor limits and how busy it is. */
import { execFileSync } from 'node:child_process';
import { fdLimits, machineLoad } from './procstat.js';

/**
 * Each idle client costs a descriptor here and one in the server child (children inherit our limit).
 * Raises our soft RLIMIT_NOFILE with prlimit(1) when the hard limit allows; otherwise stops with advice.
 */
export function ensureFdLimit(needed: number): void {
  const { soft, hard } = fdLimits();
  if (soft >= needed) return;
  if (hard >= needed) {
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${needed}:${hard}`]);
    } catch {
      // fall through to the check below
    }
    if (fdLimits().soft >= needed) {
      console.log(`raised the open-files soft limit from ${soft} to ${needed} (prlimit)`);
      return;
    }
  }
  throw new Error(`open-files limit is ${soft} (hard ${hard}); this bench needs ${needed}: run \`ulimit -n ${needed}\` (as root if the hard limit is lower) or use --quick`);
}

/** Load, cores, and the busiest other processes, so a reader can judge the numbers. */
export function printMachine(): void {
  const load = machineLoad();
  const busy = load.load1 > load.cores * 0.5;
  console.log(`machine: ${load.cores} cores, load ${load.load1.toFixed(2)} / ${load.load5.toFixed(2)} (1 / 5 min)${busy ? ' — BUSY: other work shares these cores; trust ratios of CPU per operation more than rates' : ''}`);
  try {
    const top = execFileSync('ps', ['-eo', 'pcpu,comm', '--sort=-pcpu', '--no-headers'], { encoding: 'utf8' }).split('\n').slice(0, 4).map((l) => l.trim()).filter(Boolean);
    console.log(`busiest processes (lifetime %CPU): ${top.join('; ')}`);
  } catch {
    // ps missing: the load figures above still say enough
  }
}
