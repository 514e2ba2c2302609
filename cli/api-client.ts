import { Agent, request } from 'node:https';
import { setTimeout as sleep } from 'node:timers/promises';
import { catalogue, FleetkeyError, type ErrorCode } from '../errors/index.js';
import { retryLine, retrySafe, retrySecondsFromEnv, retryWaitSeconds, waitingFor, type RetryNotice } from './api-retry.js';

export interface ApiClientConfig {
  /** `https://host:port` of the provisioner. */
  readonly url: string;
  /** Bearer API token. */
  readonly token: string;
  /** PEM certificates to trust for the provisioner's server certificate. */
  readonly ca: readonly string[];
  /** Requests in flight at once (keep-alive connections). Default 4. */
  readonly concurrency?: number;
  /** How long a retry-safe call keeps retrying a 503, in seconds. Default FLEETKEY_RETRY_SECONDS, else 60; 0: never. */
  readonly retrySeconds?: number;
  /** Told before each wait; default: a line on stderr. */
  readonly onRetry?: (notice: RetryNotice) => void;
}

export interface CallOptions {
  /** Send it again after a 503 that passes by itself. Default: cli/api-retry.ts `retrySafe`. */
  readonly retry?: boolean;
}

/** A refusal with the server's Retry-After, as the retry loop needs it. */
interface Refused {
  readonly error: FleetkeyError;
  readonly retryAfter: string | undefined;
}

/**
 * The provisioner's REST API for CLI commands: JSON in, JSON (or bytes) out, keep-alive. A refusal
 * becomes the FleetkeyError the server named, so the CLI prints the same code and exits non-zero.
 * A call that is safe to repeat is sent again after a 503 that passes by itself (the store unreachable,
 * the provisioner not ready), after the server's Retry-After, for up to `retrySeconds` in all.
 */
export class ApiClient {
  private readonly agent: Agent;

  constructor(private readonly config: ApiClientConfig) {
    this.agent = new Agent({ keepAlive: true, maxSockets: config.concurrency ?? 4, ca: [...config.ca] });
  }

  get url(): string {
    return this.config.url;
  }

  async json<T>(method: string, path: string, body?: unknown, call: CallOptions = {}): Promise<T> {
    const answer = await this.sendRetrying(method, path, body, 'application/json', call.retry ?? retrySafe(method, path));
    try {
      return JSON.parse(answer.toString('utf8')) as T;
    } catch (err) {
      throw new FleetkeyError('API_RESPONSE_INVALID', `${method} ${path}: not JSON`, { cause: err });
    }
  }

  /** Closes the keep-alive connections, so the process can exit. */
  close(): void {
    this.agent.destroy();
  }

  private async sendRetrying(method: string, path: string, body: unknown, accept: string, retry: boolean): Promise<Buffer> {
    const deadline = Date.now() + 1000 * (retry ? this.config.retrySeconds ?? retrySecondsFromEnv() : 0);
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.send(method, path, body, accept);
      } catch (err) {
        const refused = err as Refused | FleetkeyError;
        if (refused instanceof FleetkeyError) throw refused;
        const waiting = waitingFor(refused.error.code);
        const waitSeconds = retryWaitSeconds(attempt, refused.retryAfter);
        if (waiting === undefined || Date.now() + waitSeconds * 1000 > deadline) throw afterRetries(refused.error, attempt, method);
        const notice = { method, path, code: refused.error.code, waitingFor: waiting, attempt, waitSeconds };
        (this.config.onRetry ?? ((n) => process.stderr.write(`fleetkey: ${retryLine(n)}\n`)))(notice);
        await sleep(waitSeconds * 1000);
      }
    }
  }

  /** Rejects with a FleetkeyError, or with a `Refused` for an HTTP refusal. */
  private send(method: string, path: string, body: unknown, accept: string): Promise<Buffer> {
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const target = new URL(path, this.config.url);
    return new Promise((resolve, reject) => {
      const req = request(target, {
        method,
        agent: this.agent,
        headers: {
          accept,
          authorization: `Bearer ${this.config.token}`,
          ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', (err) => reject(new FleetkeyError('API_UNREACHABLE', `${target.origin}: ${err.message}`, { cause: err })));
        res.on('end', () => {
          const data = Buffer.concat(chunks);
          const status = res.statusCode ?? 0;
          if (status >= 200 && status < 300) resolve(data);
          else {
            const retryAfter = res.headers['retry-after'];
            reject({ error: refusalOf(method, path, status, data), retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter } satisfies Refused);
          }
        });
      });
      req.on('error', (err) => reject(new FleetkeyError('API_UNREACHABLE', `${target.origin}: ${err.message}`, { cause: err })));
      req.end(payload);
    });
  }
}

/** The server's `{ "error": { code } }` as a FleetkeyError; anything else is API_RESPONSE_INVALID. */
function refusalOf(method: string, path: string, status: number, data: Buffer): FleetkeyError {
  let code: unknown;
  try {
    code = (JSON.parse(data.toString('utf8')) as { error?: { code?: unknown } }).error?.code;
  } catch {
    code = undefined;
  }
  if (typeof code === 'string' && Object.hasOwn(catalogue, code)) return new FleetkeyError(code as ErrorCode, `${method} ${path}: HTTP ${status}`);
  return new FleetkeyError('API_RESPONSE_INVALID', `${method} ${path}: HTTP ${status} ${data.toString('utf8').slice(0, 200)}`);
}

/** The last refusal; after a 503 it is unknown whether an earlier attempt was applied, so the detail says so. */
function afterRetries(error: FleetkeyError, attempts: number, method: string): FleetkeyError {
  if (attempts === 1) return error;
  const applied = method === 'GET' || method === 'HEAD' ? '' : '; an earlier one answered 503 and may have been applied';
  return new FleetkeyError(error.code, `${error.detail ?? ''} after ${attempts} attempts${applied}`.trim());
}
