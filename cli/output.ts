import { isFleetkeyError } from '../errors/index.js';

/** Options every command accepts. */
export interface CommonOptions {
  json?: boolean;
}

/** Prints a command's result: the JSON document with `--json`, otherwise the human text. */
export function emit(opts: CommonOptions, result: unknown, human: () => string): void {
  process.stdout.write(opts.json ? `${JSON.stringify(result, null, 2)}\n` : `${human()}\n`);
}

/** Prints a failure (as JSON with `--json`) and sets a non-zero exit code. */
export function reportFailure(err: unknown, json: boolean): void {
  const code = isFleetkeyError(err) ? err.code : 'INTERNAL';
  const message = err instanceof Error ? err.message : String(err);
  const detail = isFleetkeyError(err) ? err.detail : undefined;
  if (json) {
    process.stdout.write(`${JSON.stringify({ error: { code, message, ...(detail ? { detail } : {}) } })}\n`);
  } else {
    process.stderr.write(`fleetkey: ${code}: ${message}${detail ? ` (${detail})` : ''}\n`);
  }
  process.exitCode = isFleetkeyError(err) && err.status < 500 ? 2 : 1;
}
