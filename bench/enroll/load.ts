/**
 * The load generator of bench/enroll.ts, in its own process: `concurrency` EST clients, each on one
 * keep-alive TLS connection, posting pre-made CSRs to simpleenroll one after another. Like wrk or
 * h2load it writes each HTTP/1.1 request as one prepared string and reads only the status line and
 * Content-Length of the answer: on a 2-core machine the client shares the cores with the server,
 * and node:https's client machinery cost more CPU per request than the server's whole HTTP layer.
 * Receives one job per message over IPC and answers with counts, latencies and its own CPU time.
 */
import { once } from 'node:events';
import { connect, type TLSSocket } from 'node:tls';

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

const HEADER_END = Buffer.from('\r\n\r\n');

/** One keep-alive HTTPS connection that carries one request at a time. */
class Connection {
  #pending: Buffer = Buffer.alloc(0);
  #waiting: ((answer: { status: number; body: string }) => void) | undefined;
  #failed: ((err: Error) => void) | undefined;

  private constructor(private readonly socket: TLSSocket, private readonly host: string) {
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('error', (err) => this.#failed?.(err));
    socket.on('close', () => this.#failed?.(new Error('connection closed by the server')));
  }

  static async open(url: URL, ca: string[]): Promise<Connection> {
    const socket = connect({ host: url.hostname, port: Number(url.port), ca, servername: url.hostname === '127.0.0.1' ? undefined : url.hostname });
    await once(socket, 'secureConnect');
    socket.setNoDelay(true);
    return new Connection(socket, url.host);
  }

  post(path: string, authorization: string, body: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      this.#waiting = resolve;
      this.#failed = reject;
      this.socket.write(
        `POST ${path} HTTP/1.1\r\nHost: ${this.host}\r\nAuthorization: ${authorization}\r\n` +
        `Content-Type: application/pkcs10\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.#failed = undefined;
    this.socket.destroy();
  }

  /** Waits for a whole answer: head, then Content-Length bytes of body (the server never chunks these). */
  #read(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    const headEnd = this.#pending.indexOf(HEADER_END);
    if (headEnd < 0) return;
    const head = this.#pending.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (!length) {
      this.#failed?.(new Error(`answer without Content-Length: ${head.slice(0, 200)}`));
      return;
    }
    const end = headEnd + HEADER_END.length + Number(length[1]);
    if (this.#pending.length < end) return;
    const status = Number(head.slice(9, 12));
    const body = this.#pending.toString('utf8', headEnd + HEADER_END.length, end);
    this.#pending = this.#pending.subarray(end);
    const done = this.#waiting;
    this.#waiting = undefined;
    this.#failed = undefined;
    done?.({ status, body });
  }
}

async function run(job: LoadJob): Promise<LoadResult> {
  const url = new URL(job.url);
  const connections = await Promise.all(Array.from({ length: job.concurrency }, () => Connection.open(url, job.ca)));
  const latencies: number[] = [];
  let next = 0;
  let failed = 0;
  let firstFailure: string | undefined;
  const worker = async (connection: Connection) => {
    for (let i = next++; i < job.enrollments.length; i = next++) {
      const e = job.enrollments[i]!;
      const start = performance.now();
      const answer = await connection.post('/.well-known/est/simpleenroll', `Basic ${Buffer.from(`${e.id}:${e.token}`).toString('base64')}`, e.csr);
      latencies.push(performance.now() - start);
      if (answer.status !== 200) {
        failed++;
        firstFailure ??= `${answer.status} ${answer.body.slice(0, 200)}`;
      }
    }
  };
  const start = performance.now();
  const cpu = process.cpuUsage();
  try {
    await Promise.all(connections.map(worker));
  } finally {
    for (const connection of connections) connection.close();
  }
  const elapsedMs = performance.now() - start;
  const used = process.cpuUsage(cpu);
  latencies.sort((a, b) => a - b);
  const pick = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { done: latencies.length - failed, failed, firstFailure, elapsedMs, p50Ms: pick(0.5), p99Ms: pick(0.99), clientCpuMs: (used.user + used.system) / 1000 };
}

process.on('message', (job: LoadJob | 'exit') => {
  if (job === 'exit') process.exit(0);
  run(job).then((result) => process.send!(result), (err: unknown) => process.send!({ error: String(err) }));
});
