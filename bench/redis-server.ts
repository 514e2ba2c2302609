import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort } from './free-port.js';

/** A throwaway redis-server on a free port, for benchmarks. */
export interface BenchRedis {
  readonly url: string;
  /** SIGKILL, keeping the data directory (what `durable` wrote survives). */
  kill(): Promise<void>;
  /** Starts it again on the same port and data directory; resolves once it answers PING. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** `durable`: AOF with `appendfsync always`, as docs/operations.md recommends; otherwise no persistence at all. */
export async function startBenchRedis(opts: { durable?: boolean } = {}): Promise<BenchRedis> {
  const dir = mkdtempSync(join(tmpdir(), 'fleetkey-bench-redis-'));
  const port = await freePort();
  const persistence = opts.durable ? ['--appendonly', 'yes', '--appendfsync', 'always'] : ['--appendonly', 'no'];
  const url = `redis://127.0.0.1:${port}`;
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn('redis-server', ['--port', String(port), '--save', '', ...persistence, '--bind', '127.0.0.1', '--dir', dir], { stdio: 'ignore' });
    await waitForPing(url, child);
    return child;
  };
  let child: ChildProcess | undefined;
  const kill = async (): Promise<void> => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    }
  };
  const stop = async (): Promise<void> => {
    await kill();
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    child = await launch();
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    url,
    kill,
    stop,
    async restart() {
      await kill();
      child = await launch();
    },
  };
}

async function waitForPing(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    const client = new Redis(url, { lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
    client.on('error', () => undefined);
    try {
      await client.connect();
      if ((await client.ping()) === 'PONG') return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      client.disconnect();
    }
  }
  throw new Error('redis-server did not answer PING within 5 s');
}

