import type { ApiClient } from '../api-client.js';
import { RotationWatch, type CurrentRotation } from '../rotation-wait.js';

export interface RotationResult {
  readonly epoch: number;
  readonly granted: number;
  readonly acked: number;
  /** From the request to every granted device's ack. */
  readonly ms: number;
  readonly complete: boolean;
  readonly unacked: readonly string[];
  readonly activatesAt: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The current epoch number (0 when there is none), over REST. */
export async function currentEpoch(api: ApiClient): Promise<number> {
  return (await api.json<CurrentRotation>('GET', '/v1/rotations/current?unacked=0')).epoch?.epoch ?? 0;
}

/**
 * A rotation as an operator asks for it (POST /v1/rotations), followed over GET /v1/rotations/current
 * until every granted device has acked the new epoch (or `timeoutMs`); `progress` hears acks/granted
 * each time they change, and what it waits for while the store is unavailable (cli/rotation-wait.ts).
 */
export async function rotateAndWait(
  api: ApiClient, switchAfterSeconds: number, timeoutMs: number, progress: (line: string) => void,
): Promise<RotationResult> {
  const started = performance.now();
  const watch = new RotationWatch(api, Date.now() + timeoutMs, (line) => progress(`  ${line}`));
  const { currentEpoch: previous } = await watch.request({ switchAfterSeconds });
  const deadline = started + timeoutMs;
  let last: CurrentRotation = { epoch: null, unacked: [] };
  let shown = '';
  for (;;) {
    last = await watch.current(100);
    const e = last.epoch;
    if (e && e.epoch > (previous ?? 0)) {
      const line = `  epoch ${e.epoch}: ${e.acked}/${e.granted} acked (${e.state})`;
      if (line !== shown) progress((shown = line));
      if (e.state === 'distributed' && e.acked >= e.granted) break;
    }
    if (performance.now() >= deadline) break;
    await sleep(100);
  }
  const e = last.epoch;
  const fresh = e !== null && e.epoch > (previous ?? 0);
  return {
    epoch: fresh ? e.epoch : 0,
    granted: fresh ? e.granted : 0,
    acked: fresh ? e.acked : 0,
    ms: Math.round(performance.now() - started),
    complete: fresh && e.state === 'distributed' && e.acked >= e.granted,
    unacked: fresh ? last.unacked : [],
    activatesAt: fresh ? Date.parse(e.activatesAt) : 0,
  };
}
