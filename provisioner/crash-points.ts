/**
 * A test hook, inert unless armed: with env FLEETKEY_CRASH_AT=<step>[:<n>] the process SIGKILLs itself
 * once n enrollments (default 1) are at that step at the same time; the earlier ones wait there, so
 * every one of them is cut at exactly that step. The fault tests (test/faults/process-enroll-*.test.ts)
 * stop a provisioner this way; docs/operations.md, "Lost answers and retries", names the steps.
 * Never set in production.
 */
export type CrashStep = 'before-sign' | 'after-sign' | 'after-record';

const CRASH_STEPS: readonly string[] = ['before-sign', 'after-sign', 'after-record'] satisfies CrashStep[];

function armedAt(value: string | undefined): { step: string; at: number } | undefined {
  const match = /^([a-z-]+)(?::(\d+))?$/.exec(value ?? '');
  if (match === null || !CRASH_STEPS.includes(match[1]!)) return undefined;
  return { step: match[1]!, at: Math.max(1, Number(match[2] ?? 1)) };
}

const armed = armedAt(process.env.FLEETKEY_CRASH_AT);
let waiting = 0;

/** An enrollment reached `step`: resolves at once unless the process is armed there (then it never does). */
export function crashPoint(step: CrashStep): Promise<void> {
  if (armed === undefined || armed.step !== step) return Promise.resolve();
  waiting += 1;
  if (waiting >= armed.at) process.kill(process.pid, 'SIGKILL');
  return new Promise<void>(() => undefined);
}
