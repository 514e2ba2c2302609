import { spawnSync } from 'node:child_process';

export interface OpensslResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real `openssl` CLI; `input` goes to stdin. Never throws: tests assert on status and output. */
export function openssl(args: readonly string[], input?: string | Buffer): OpensslResult {
  const run = spawnSync('openssl', args, { input, encoding: 'utf8', timeout: 30_000 });
  if (run.error) throw run.error;
  return { status: run.status, stdout: run.stdout, stderr: run.stderr };
}
