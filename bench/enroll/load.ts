/**
 * The load generator of bench/enroll.ts, in its own process so it does not take the server's core:
 * `concurrency` EST clients over HTTPS keep-alive, each posting pre-made CSRs to simpleenroll.
 * Receives one job per message over IPC and answers with counts and latencies.
 */
import { Agent, request } from 'node:https';

export interface LoadJob {
  readonly url: string;
  readonly ca: string[];
  readonly concurrency: number;
  readonly enrollments: readonly { id: string; token: string; csr: string }[];
}

export interface LoadResult {
  readonly done: number;
  readonly failed: number;
  readonly firstFailure: string | undefined;
  readonly elapsedMs: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** CPU time of this load process during the run. */
  readonly clientCpuMs: number;
}

function post(agent: Agent, url: string, e: LoadJob['enrollments'][number]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${url}/.well-known/est/simpleenroll`, {
      method: 'POST',
      agent,
      headers: {
        authorization: `Basic ${Buffer.from(`${e.id}:${e.token}`).toString('base64')}`,
        'content-type': 'application/pkcs10',
        'content-length': String(e.csr.length),
      },
    }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (s: string) => (body += s));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end(e.csr);
  });
}

async function run(job: LoadJob): Promise<LoadResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: job.concurrency, ca: job.ca });
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const worker = async () => {
    for (let i = next++; i < job.enrollments.length; i = next++) {
      const start = performance.now();
      const answer = await post(agent, job.url, job.enrollments[i]!);
      latencies.push(performance.now() - start);
      if (answer.status !== 200) {
        failed++;
        firstFailure ??= `${answer.status} ${answer.body.slice(0, 200)}`;
      }
    }
  };
  const start = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: job.concurrency }, worker));
  const elapsedMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  agent.destroy();
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { done: latencies.length - failed, failed, firstFailure, elapsedMs, p50Ms: pick(0.5), p99Ms: pick(0.99), clientCpuMs: (used.user + used.system) / 1000 };
}

process.on('message', (job: LoadJob | 'exit') => {
  if (job === 'exit') process.exit(0);
  run(job).then((result) => process.send!(result), (err: unknown) => process.send!({ error: String(err) }));
});
