import type { Test } from 'tap';
import { onLine, spawnTs } from '../helpers/spawn-ts.js';

/** `fleetkey kdc` in a child process, its JSON log lines kept for the test to count events in. */
export interface KdcProcess {
  readonly child: ReturnType<typeof spawnTs>;
  /** Log lines (parsed) so far. */
  readonly lines: Array<Record<string, unknown>>;
  /** How many log lines had `event` = `name`. */
  count(name: string): number;
  /** Resolves with the first line (from now, or already seen) whose event is `name`. */
  next(name: string, ms?: number): Promise<Record<string, unknown>>;
}

/** Resolves once the KDC announced it started, or with `until`, once it logged that event (e.g. `broker-waiting`). */
export async function startKdcProcess(t: Test, args: string[], until?: string): Promise<KdcProcess> {
  const child = spawnTs(t, 'cli/main.ts', ['kdc', '--json', '--log-level', 'info', '--metrics-port', '-1', ...args]);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const lines: Array<Record<string, unknown>> = [];
  const waiters: Array<{ name: string; resolve: (line: Record<string, unknown>) => void }> = [];
  onLine(child, (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      return;
    }
    lines.push(line);
    for (const w of waiters.filter((w) => w.name === line.event)) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  const started = new Promise<void>((resolve, reject) => {
    onLine(child, (text) => (until === undefined ? text.includes('"service":"kdc"') : lines.some((l) => l.event === until)) && resolve());
    child.once('exit', (code) => reject(new Error(`kdc exited ${code}: ${stderr}${lines.slice(-5).map((l) => JSON.stringify(l)).join('\n')}`)));
  });
  await started;
  return {
    child,
    lines,
    count: (name) => lines.filter((l) => l.event === name).length,
    next(name, ms = 30_000) {
      const seen = lines.find((l) => l.event === name);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${name} within ${ms} ms; stderr: ${stderr.slice(-2000)}`)), ms);
        waiters.push({ name, resolve: (line) => { clearTimeout(timer); resolve(line); } });
      });
    },
  };
}
