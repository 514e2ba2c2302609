import { execFile, spawn, type ChildProcess } from 'node:child_process';
import type { Test } from 'tap';
import type { ClientFiles, TestFleet } from './fleet.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Arguments that connect a mosquitto client to our broker with a fleet identity. */
export function mosquittoArgs(fleet: TestFleet, port: number, files: ClientFiles | undefined, clientId: string): string[] {
  return [
    '-h', '127.0.0.1', '-p', String(port), '-V', 'mqttv311', '-i', clientId, '--cafile', fleet.caFile,
    ...(files ? ['--cert', files.certFile, '--key', files.keyFile] : []),
  ];
}

/** Runs mosquitto_pub (or _sub) to completion; never rejects, the exit code tells. */
export function runMosquitto(tool: 'mosquitto_pub' | 'mosquitto_sub', args: string[], timeoutMs = 10_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(tool, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** mosquitto_sub's `-d` lines ("Client x received SUBACK", "Subscribed (mid: 1): 1"), told apart from messages. */
const DEBUG_LINE = /^(Client \S+ (sending|received) [A-Z]+|Subscribed \(mid)/;

/**
 * A mosquitto_sub left running (with `-d`), killed at teardown. `ready` resolves at its SUBACK, so a
 * message published after it is one it must receive; `lines` holds the messages only.
 */
export function startMosquittoSub(t: Test, args: string[]): { child: ChildProcess; lines: string[]; ready: Promise<void> } {
  // Line-buffered: to a pipe, mosquitto_sub holds its debug lines in a block buffer.
  const child = spawn('stdbuf', ['-oL', 'mosquitto_sub', '-d', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const lines: string[] = [];
  let subscribed: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  let partial = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    const split = (partial + chunk).split('\n');
    partial = split.pop() ?? '';
    for (const line of split.filter(Boolean)) {
      if (!DEBUG_LINE.test(line)) lines.push(line);
      else if (/ received SUBACK/.test(line)) subscribed();
    }
  });
  return { child, lines, ready };
}
