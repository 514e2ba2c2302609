import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import { tempDir } from './tmp.js';

export interface TestSentinel {
  /** `redis+sentinel://127.0.0.1:<sentinel port>/<name>`, the store URL services are given. */
  readonly url: string;
  readonly name: string;
  /** Port of the primary Sentinel names now. */
  primaryPort(): Promise<number>;
  /** SIGKILLs the primary and resolves with the new primary's port once Sentinel has promoted the replica and it accepts writes. */
  killPrimary(): Promise<number>;
}

/**
 * A primary, one replica and one Sentinel (quorum 1, down after 1 s), each a private redis-server on a
 * free port, killed when the test ends. Resolves once the replica is in sync and Sentinel knows it.
 */
export async function startSentinel(t: Test, name = 'fleetkey'): Promise<TestSentinel> {
  const dir = tempDir(t, 'fleetkey-sentinel-');
  const servers = new Map<number, ChildProcess>();
  t.teardown(async () => {
    await Promise.all([...servers.values()].map(kill));
  });
  const [p1, p2, sp] = (await distinctPorts(3)) as [number, number, number];
  const data = ['--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'];
  servers.set(p1, await launch(p1, ['--port', String(p1), '--dir', dir, '--dbfilename', `${p1}.rdb`, ...data]));
  servers.set(p2, await launch(p2, ['--port', String(p2), '--dir', dir, '--dbfilename', `${p2}.rdb`, '--replicaof', '127.0.0.1', String(p1), ...data]));
  // Sentinel rewrites its configuration file: a writable copy of its own.
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(conf, [
    `port ${sp}`, 'bind 127.0.0.1', `dir ${dir}`,
    `sentinel monitor ${name} 127.0.0.1 ${p1} 1`,
    `sentinel down-after-milliseconds ${name} 1000`,
    `sentinel failover-timeout ${name} 5000`,
    `sentinel parallel-syncs ${name} 1`,
  ].join('\n') + '\n');
  servers.set(sp, await launch(sp, [conf, '--sentinel']));

  const sentinel = connection(sp);
  t.teardown(() => sentinel.disconnect());
  const primaryPort = async (): Promise<number> => Number(((await sentinel.call('SENTINEL', 'get-master-addr-by-name', name)) as string[])[1]);
  await until(async () => (await info(p2, 'replication')).includes('master_link_status:up'), 10_000, 'the replica in sync');
  await until(async () => ((await sentinel.call('SENTINEL', 'replicas', name)) as unknown[]).length > 0, 20_000, 'Sentinel to know the replica');

  return {
    url: `redis+sentinel://127.0.0.1:${sp}/${name}`,
    name,
    primaryPort,
    async killPrimary() {
      const old = await primaryPort();
      await kill(servers.get(old));
      servers.delete(old);
      await until(async () => (await primaryPort()) !== old, 30_000, 'Sentinel to promote the replica');
      const next = await primaryPort();
      await until(async () => (await info(next, 'replication')).includes('role:master'), 10_000, 'the new primary to take writes');
      return next;
    },
  };
}

function connection(port: number): Redis {
  const redis = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
  redis.on('error', () => undefined);
  return redis;
}

async function info(port: number, section: string): Promise<string> {
  const redis = connection(port);
  try {
    return await redis.info(section);
  } catch {
    return '';
  } finally {
    redis.disconnect();
  }
}

async function launch(port: number, args: string[]): Promise<ChildProcess> {
  const child = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const probe = connection(port);
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`redis-server ${args.join(' ')} exited (${child.exitCode}): ${stderr}`);
      return (await probe.ping().catch(() => '')) === 'PONG';
    }, 5000, `redis-server on port ${port}`);
  } finally {
    probe.disconnect();
  }
  return child;
}

async function kill(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGKILL');
  await exited;
}

async function distinctPorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, async () => {
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    return server;
  }));
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  for (const s of servers) s.close();
  return ports;
}

async function until(check: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
