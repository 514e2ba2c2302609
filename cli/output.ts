import { isFleetkeyError } from '../errors/index.js';

/** Options every command accepts. */
export interface CommonOptions {
  json?: boolean;
}

/** Prints a command's result: the JSON document with `--json`, otherwise the human text. */
export function emit(opts: CommonOptions, result: unknown, human: () => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${human()}\n`);
}

/** The `error` member of a failed command's JSON output. */
export function failureJson(err: unknown): { code: string; message: string; detail?: string } {
  const code = isFleetkeyError(err) ? err.code : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  const detail = isFleetkeyError(err) ? err.detail : undefined;
  return { code, message, ...(detail ? { detail } : {}) };
}

/** 2 for a refusal, 1 for a fault. */
export function failureExitCode(err: unknown): number {
  return isFleetkeyError(err) && err.status < 500 ? 2 : 1;
}

/** Prints a failure (as JSON with `--json`) and sets a non-zero exit code. */
export function reportFailure(err: unknown, json: boolean): void {
  const error = failureJson(err);
  if (json) {
    process.stdout.write(`${JSON.stringify({ error })}\n`);
  } else {
    process.stderr.write(`fleetkey: ${error.code}: ${error.message}${error.detail ? ` (${error.detail})` : ''}\n`);
  }
  process.exitCode = failureExitCode(err);
}
