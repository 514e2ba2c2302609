/** One step of the demo: what was checked, whether it held, and its figures. */
export interface DemoStep {
  readonly name: string;
  readonly ok: boolean;
  readonly ms: number;
  /** One line for the table: the figures, or why the step failed. */
  readonly detail: string;
  readonly figures: Readonly<Record<string, number | string | boolean>>;
}

/** The whole run, as `fleetkey demo --json` prints it. */
export interface DemoReport {
  readonly ok: boolean;
  readonly devices: number;
  readonly seconds: number;
  readonly steps: readonly DemoStep[];
  readonly figures: {
    readonly sent: number;
    readonly opened: number;
    readonly duplicate: number;
    readonly undecryptable: number;
    readonly lost: number;
    readonly rotationMs: readonly number[];
  };
  readonly revoked: {
    readonly deviceId: string;
    readonly cutMs: number | null;
    readonly reenrollRefused: boolean;
    readonly keyedInNextEpoch: boolean;
  } | null;
}

/** What a step body returns: the figures and the one-line detail; throw (or ok: false) when the step did not hold. */
export interface StepOutcome {
  readonly ok?: boolean;
  readonly detail: string;
  readonly figures?: Record<string, number | string | boolean>;
}

/**
 * Runs the demo's steps in order and records each one. A step that throws is a FAIL with the
 * error as its detail; `skip` records a step that did not run because an earlier one failed.
 */
export class StepRecorder {
  readonly steps: DemoStep[] = [];

  constructor(private readonly progress: (line: string) => void) {}

  get ok(): boolean {
    return this.steps.every((s) => s.ok);
  }

  async run(name: string, body: () => Promise<StepOutcome>): Promise<boolean> {
    this.progress(`… ${name}`);
    const started = performance.now();
    let outcome: StepOutcome;
    try {
      outcome = await body();
    } catch (err) {
      outcome = { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
    const step: DemoStep = {
      name, ok: outcome.ok ?? true, ms: Math.round(performance.now() - started), detail: outcome.detail, figures: outcome.figures ?? {},
    };
    this.steps.push(step);
    this.progress(`${step.ok ? 'PASS' : 'FAIL'} ${name} (${step.ms} ms): ${step.detail}`);
    return step.ok;
  }

  /** A step that could not run because an earlier one failed. */
  skip(name: string): void {
    this.steps.push({ name, ok: false, ms: 0, detail: 'not run: an earlier step failed', figures: {} });
  }
}

/** The final table: one row per step, then the figures. */
export function formatReport(r: DemoReport): string {
  const width = Math.max(...r.steps.map((s) => s.name.length), 4);
  const rows = r.steps.map((s) => `  ${s.ok ? 'PASS' : 'FAIL'}  ${s.name.padEnd(width)}  ${`${s.ms} ms`.padStart(8)}  ${s.detail}`);
  const f = r.figures;
  return [
    `fleetkey demo: ${r.devices} devices, ${r.seconds} s`,
    '',
    `  ${'step'.padStart(4)}  ${'name'.padEnd(width)}  ${'time'.padStart(8)}  detail`,
    ...rows,
    '',
    `  messages: ${f.sent} sent, ${f.opened} opened, ${f.duplicate} duplicate, ${f.undecryptable} undecryptable, ${f.lost} lost`,
    `  rotations: ${f.rotationMs.map((ms) => `${ms} ms`).join(', ') || 'none'} (request to every ack)`,
    ...(r.revoked
      ? [`  revoked ${r.revoked.deviceId}: cut after ${r.revoked.cutMs ?? '-'} ms, re-enroll ${r.revoked.reenrollRefused ? 'refused' : 'NOT refused'}, ${r.revoked.keyedInNextEpoch ? 'KEYED' : 'no key'} in the next epoch`]
      : []),
    '',
    r.ok ? 'every step held' : `${r.steps.filter((s) => !s.ok).length} step(s) failed`,
  ].join('\n');
}
