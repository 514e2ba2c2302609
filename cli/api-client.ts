import { Agent, request } from 'node:https';
import { catalogue, FleetkeyError, type ErrorCode } from '../errors/index.js';

export interface ApiClientConfig {
  /** `https://host:port` of the provisioner. */
  readonly url: string;
  /** Bearer API token. */
  readonly token: string;
  /** PEM certificates to trust for the provisioner's server certificate. */
  readonly ca: readonly string[];
  /** Requests in flight at once (keep-alive connections). Default 4. */
  readonly concurrency?: number;
}

/**
 * The provisioner's REST API for CLI commands: JSON in, JSON (or bytes) out, keep-alive. A refusal
 * becomes the FleetkeyError the server named, so the CLI prints the same code and exits non-zero.
 */
export class ApiClient {
  private readonly agent: Agent;

  constructor(private readonly config: ApiClientConfig) {
    this.agent = new Agent({ keepAlive: true, maxSockets: config.concurrency ?? 4, ca: [...config.ca] });
  }

  get url(): string {
    return this.config.url;
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const answer = await this.send(method, path, body, 'application/json');
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
          else reject(refusalOf(method, path, status, data));
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
