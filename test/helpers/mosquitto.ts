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

/** A mosquitto_sub left running; killed at teardown. */
export function startMosquittoSub(t: Test, args: string[]): { child: ChildProcess; lines: string[]; ready: Promise<void> } {
  const child = spawn('mosquitto_sub', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    child.kill('SIGKILL');
  });
  const lines: string[] = [];
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => lines.push(...chunk.split('\n').filter(Boolean)));
  const ready = new Promise<void>((resolve) => setTimeout(resolve, 300));
  return { child, lines, ready };
}
