import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, rmSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { once } from 'node:events';
import type { Test } from 'tap';
import { tempDir } from './tmp.js';

export interface TestRedis {
  readonly url: string;
  readonly port: number;
  /** Shuts the server down, keeping its data in the temp dir (SHUTDOWN SAVE). */
  stop(): Promise<void>;
  /** Stops (if running) and starts it again on the same port with the saved data. */
  restart(): Promise<void>;
  /** SAVE, then SIGKILL: a crash that keeps the data (restart() brings it back). Resolves once it is gone. */
  crash(): Promise<void>;
  /** SIGSTOP / SIGCONT: a server that accepts nothing and answers nothing. */
  pause(): void;
  resume(): void;
  /** SIGKILL, no SAVE: what was not on disk yet (per `appendfsync`) is lost. */
  kill(): Promise<void>;
  /** A copy of the data dir as it is on disk now, to restart from later. */
  snapshot(): string;
  /** Kills (if running) and starts it again from a `snapshot()` (a store that lost the writes since) or with no data. */
  restartFrom(source: { from: string } | 'empty'): Promise<void>;
}

export interface RedisOptions {
  /** An append-only file with this fsync policy (docker-compose.yml runs `everysec`); default none (SHUTDOWN SAVE keeps data). */
  readonly appendfsync?: 'always' | 'everysec';
}

/** A private redis-server on a free port, killed when the test ends. */
export async function startRedis(t: Test, options: RedisOptions = {}): Promise<TestRedis> {
  const dir = tempDir(t, 'fleetkey-redis-');
  const launch = (port: number, dir: string) => launchServer(port, dir, options);
  let port = 0;
  let child: ChildProcess | undefined;
  for (let attempt = 0; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await launch(port, dir);
    } catch (err) {
      if (attempt >= 4) throw err;
    }
  }
  t.teardown(() => kill(child));

  const stop = async (): Promise<void> => {
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    await command(port, 'SHUTDOWN SAVE').catch(() => undefined);
    await exited;
  };
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    stop,
    async restart() {
      await stop();
      child = await launch(port, dir);
    },
    async crash() {
      await command(port, 'SAVE');
      await kill(child);
    },
    pause: () => child?.kill('SIGSTOP'),
    resume: () => child?.kill('SIGCONT'),
    kill: () => kill(child),
    snapshot() {
      const copy = tempDir(t, 'fleetkey-redis-copy-');
      cpSync(dir, copy, { recursive: true });
      return copy;
    },
    async restartFrom(source) {
      await kill(child);
      rmSync(dir, { recursive: true, force: true });
      if (source === 'empty') mkdirSync(dir);
      else cpSync(source.from, dir, { recursive: true });
      child = await launch(port, dir);
    },
  };
}

async function launchServer(port: number, dir: string, options: RedisOptions): Promise<ChildProcess> {
  const persistence = options.appendfsync ? ['--appendonly', 'yes', '--appendfsync', options.appendfsync] : ['--appendonly', 'no'];
  const child = spawn('redis-server', ['--port', String(port), '--save', '', ...persistence, '--bind', '127.0.0.1', '--dir', dir], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited (${child.exitCode}): ${stderr}`);
    if (await command(port, 'PING').then((r) => r.startsWith('+PONG'), () => false)) return child;
    await new Promise((r) => setTimeout(r, 20));
  }
  await kill(child);
  throw new Error(`redis-server on port ${port} did not answer PING within 5 s`);
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGCONT');
  child.kill('SIGKILL');
  await exited;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  server.close();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  return address.port;
}

/** One inline command over a raw socket; resolves with the first reply chunk. */
function command(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(1000, () => socket.destroy(new Error('timeout')));
    socket.once('connect', () => socket.write(`${line}\r\n`));
    socket.once('data', (data) => {
      resolve(data.toString());
      socket.destroy();
    });
    socket.once('close', () => resolve(''));
    socket.once('error', reject);
  });
}
