/** The simulator processes of one soak (bench/soak/run-sim.ts), driven together. */
import { once } from 'node:events';
import { join } from 'node:path';
import type { SimReport } from '../../device-sim/index.js';
import { DIST, json, start, type Child } from '../fleet/children.js';
import type { OutageSummary } from './outages.js';

export interface SimProgress {
  readonly t: number;
  readonly devices: number;
  readonly connected: number;
  readonly keyed: number;
  readonly failed: number;
  readonly sent: number;
  readonly outages: OutageSummary;
}

export interface SimResult {
  readonly report: SimReport;
  readonly outages: OutageSummary;
}

export interface SimChild {
  readonly child: Child;
  readonly ready: Promise<void>;
  latest(): SimProgress | undefined;
  open(): void;
  /** Drains, disconnects, and resolves with the simulator's report. */
  stop(): Promise<SimResult>;
}

export function startSim(name: string, bundles: string, brokerUrl: string, chain: string, rate: number, concurrency: number): SimChild {
  let latest: SimProgress | undefined;
  let ready: () => void = () => undefined;
  let result: (r: SimResult) => void = () => undefined;
  const readyP = new Promise<void>((resolve) => (ready = resolve));
  const resultP = new Promise<SimResult>((resolve) => (result = resolve));
  const args = [join(DIST, 'bench', 'soak', 'run-sim.js'), bundles, brokerUrl, chain, String(rate), String(concurrency)];
  const child = start(name, args, (line, stream) => {
    const msg = stream === 'out' ? json(line) : undefined;
    if (!msg) return void process.stderr.write(`  ${name}: ${line}\n`);
    if (msg.type === 'progress') latest = msg as unknown as SimProgress;
    if (msg.type === 'ready') ready();
    if (msg.type === 'report') result(msg as unknown as SimResult);
  });
  const exited = once(child.proc, 'exit').then(([code]) => {
    throw new Error(`${name} exited (${String(code)}) before it reported`);
  });
  exited.catch(() => undefined);
  return {
    child,
    ready: Promise.race([readyP, exited]),
    latest: () => latest,
    open: () => void child.proc.stdin.write('open\n'),
    async stop() {
      child.proc.stdin.write('stop\n');
      return Promise.race([resultP, exited]);
    },
  };
}
