import { isFleetkeyError, type ErrorCode } from '../errors/index.js';
import type { ApiClient } from './api-client.js';

/** GET /v1/rotations/current, as provisioner/rest-rotations.ts answers it. */
export interface CurrentRotation {
  epoch: { epoch: number; state: 'distributing' | 'distributed'; activatesAt: string; granted: number; acked: number } | null;
  unacked: string[];
}

/** Refusals that mean "not now" (the store or the provisioner is away): worth asking again. */
const TRANSIENT: ReadonlySet<ErrorCode> = new Set(['STORE_UNAVAILABLE', 'API_UNREACHABLE', 'SERVICE_NOT_READY']);
const FIRST_DELAY_MS = 250;
const MAX_DELAY_MS = 5000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Following a rotation over REST through a store outage: each call is repeated with backoff while the
 * answer is transient, saying once per outage what it waits for (and when it is over), until `deadline`
 * (ms since the Unix epoch), when the last refusal is thrown. The KDC carries the rotation on by itself
 * once the store is back; this only keeps watching.
 */
export class RotationWatch {
  /** When the current outage began, as seen from here; undefined while calls are answered. */
  #since: number | undefined;

  constructor(private readonly api: ApiClient, private readonly deadline: number, private readonly say: (line: string) => void) {}

  /** Milliseconds the calls have been failing, 0 when the last one was answered. */
  get outageMs(): number {
    return this.#since === undefined ? 0 : Date.now() - this.#since;
  }

  /** POST /v1/rotations (a repeated request asks for the same epoch: the KDC makes it once). */
  request(body: { switchAfterSeconds?: number }): Promise<{ currentEpoch: number | null }> {
    return this.#call('the rotation request', () => this.api.json('POST', '/v1/rotations', body));
  }

  current(unacked: number): Promise<CurrentRotation> {
    return this.#call('the rotation\'s progress', () => this.api.json('GET', `/v1/rotations/current?unacked=${unacked}`));
  }

  async #call<T>(what: string, call: () => Promise<T>): Promise<T> {
    let delay = FIRST_DELAY_MS;
    for (;;) {
      try {
        const answer = await call();
        if (this.#since !== undefined) this.say(`${what}: answered again after ${Math.round(this.outageMs / 1000)} s`);
        this.#since = undefined;
        return answer;
      } catch (err) {
        if (!isFleetkeyError(err) || !TRANSIENT.has(err.code) || Date.now() + delay > this.deadline) throw err;
        if (this.#since === undefined) {
          this.#since = Date.now();
          this.say(`waiting for ${what}: ${err.code} (${err.message}); retrying with backoff, the KDC resumes the rotation when the store is back`);
        }
        await sleep(delay);
        delay = Math.min(delay * 2, MAX_DELAY_MS);
      }
    }
  }
}
