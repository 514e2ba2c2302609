/**
 * A test hook, inert unless armed: with env FLEETKEY_CRASH_AT=<step>[:<n>] the process SIGKILLs itself
 * the n-th time (default the first) an enrollment reaches that step, so the fault tests
 * (test/faults/process-enroll-*.test.ts) stop a provisioner at a named step deterministically.
 * docs/operations.md, "Lost answers and retries", names the steps. Never set in production.
 */
export type CrashStep = 'before-sign' | 'after-sign' | 'after-record';

const CRASH_STEPS: readonly string[] = ['before-sign', 'after-sign', 'after-record'] satisfies CrashStep[];

function armedAt(value: string | undefined): { step: string; at: number } | undefined {
  const match = /^([a-z-]+)(?::(\d+))?$/.exec(value ?? '');
  if (match === null || !CRASH_STEPS.includes(match[1]!)) return undefined;
  return { step: match[1]!, at: Math.max(1, Number(match[2] ?? 1)) };
}

const armed = armedAt(process.env.FLEETKEY_CRASH_AT);
let reached = 0;

/** Marks that an enrollment reached `step`; the armed process dies here. */
export function crashPoint(step: CrashStep): void {
  if (armed === undefined || armed.step !== step) return;
  reached += 1;
  if (reached >= armed.at) process.kill(process.pid, 'SIGKILL');
}
