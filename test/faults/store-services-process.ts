import type { ChildProcessWithoutNullStreams } from 'node:child_process';
import { request } from 'node:https';
import type { Test } from 'tap';
import { exited, onLine, spawnTs } from '../helpers/spawn-ts.js';

/** A `fleetkey <service>` child with its JSON lines (logs and the --json "started" line) as they come. */
export interface ServiceProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly lines: Record<string, unknown>[];
  /** The --json line that says it started. */
  readonly started: Promise<Record<string, unknown>>;
  stderr(): string;
  /** The log lines with this `event`. */
  events(event: string): Record<string, unknown>[];
}

export function startService(t: Test, args: string[], env?: NodeJS.ProcessEnv): ServiceProcess {
  const child = spawnTs(t, 'cli/main.ts', [...args, '--json'], env);
  const lines: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const started = new Promise<Record<string, unknown>>((resolve, reject) => {
    onLine(child, (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, unknown>;
        lines.push(parsed);
        if (typeof parsed.service === 'string') resolve(parsed);
      } catch {
        // not JSON
      }
    });
    // With --json a CLI error is a JSON line on stdout, not stderr: both go into the message.
    void exited(child).then(({ code, signal }) => reject(new Error(`fleetkey ${args[0]} exited (${code ?? signal}): ${stderr}${JSON.stringify(lines.slice(-3))}`)));
  });
  started.catch(() => undefined);
  return { child, lines, started, stderr: () => stderr, events: (event) => lines.filter((l) => l.event === event) };
}

/** Polls `check` every 50 ms until it holds; fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The process is still running. */
export function alive(p: ServiceProcess): boolean {
  return p.child.exitCode === null && p.child.signalCode === null;
}

/** An HTTPS answer of a service: status, catalogue code (if an error), body, Retry-After, time taken. */
export interface HttpsAnswer {
  readonly status: number;
  readonly code: string | undefined;
  readonly body: string;
  readonly retryAfter: string | undefined;
  readonly ms: number;
}

/** One HTTPS request to `url` + `path`, trusting `ca`, on a fresh connection. */
export function httpsCall(url: string, ca: string[], method: string, path: string, headers: Record<string, string>, body?: string): Promise<HttpsAnswer> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const req = request(`${url}${path}`, { method, ca, headers, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (s: string) => (data += s));
      res.on('end', () => {
        let code: string | undefined;
        try {
          code = (JSON.parse(data) as { error?: { code?: string } }).error?.code;
        } catch {
          code = undefined;
        }
        const retryAfter = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, code, body: data, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, ms: Date.now() - started });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}
