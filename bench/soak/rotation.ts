/**
 * Asking for one rotation and following it to every device's ack, the way an operator would on each
 * variant: on the embedded stack through the provisioner's REST API (`fleetkey rotate`: POST
 * /v1/rotations, GET /v1/rotations/current), on the cluster through the Redis store (`rotate-requested`,
 * `epochProgress`), which has no provisioner running.
 */
import { readFileSync } from 'node:fs';
import { ApiClient } from '../../cli/api-client.js';
import { readCaPems } from '../../cli/data-dir.js';
import type { CurrentRotation } from '../../cli/rotation-wait.js';
import { openStore } from '../../store/index.js';
import type { SoakServices } from './services.js';
import { SOAK_PREFIX, type SoakSetup } from './setup.js';

export interface RotationState {
  readonly epoch: number;
  readonly granted: number;
  readonly acked: number;
}

export interface RotationControl {
  /** Asks for a rotation; resolves with the epoch current before it (0 for none). */
  request(): Promise<number>;
  /** The current epoch and its progress; undefined before the first. */
  current(): Promise<RotationState | undefined>;
  close(): Promise<void>;
}

export async function rotationControl(setup: SoakSetup, services: SoakServices): Promise<RotationControl> {
  if (services.provisioner) {
    const { url, tokenFile } = services.provisioner;
    const api = new ApiClient({ url, token: readFileSync(tokenFile, 'utf8').trim(), ca: readCaPems(setup.dir), onRetry: () => undefined });
    return {
      async request() {
        const answer = await api.json<{ currentEpoch: number | null }>('POST', '/v1/rotations', {}, { retry: true });
        return answer.currentEpoch ?? 0;
      },
      async current() {
        const { epoch } = await api.json<CurrentRotation>('GET', '/v1/rotations/current?unacked=0');
        return epoch ?? undefined;
      },
      async close() {
        api.close();
      },
    };
  }
  const store = await openStore(setup.storeUrl, { prefix: SOAK_PREFIX });
  return {
    async request() {
      const current = await store.currentEpoch();
      await store.publish({ type: 'rotate-requested', requestedBy: 'bench:soak', switchAfterSeconds: undefined });
      return current?.epoch ?? 0;
    },
    async current() {
      const epoch = await store.currentEpoch();
      return epoch && store.epochProgress(epoch.epoch);
    },
    close: () => store.close(),
  };
}
