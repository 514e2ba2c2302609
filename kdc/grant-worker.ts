import { createPrivateKey } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import type { GrantSigner } from '../protocol/grant.js';
import { buildGrants, RecipientKeys, type GrantJob, type GrantResult } from './grant-jobs.js';

/**
 * A worker thread that builds grants (key derivation, ECDH-ES wrap, ES256 sign): the CPU-heavy part
 * of a rotation, spread over the machine's cores by kdc/grant-pool.ts. The epoch secrets it gets
 * live in this process's memory only, as on the main thread; the KEK never comes here.
 */

export const GRANT_WORKER = 'fleetkey-grant-worker';

export interface GrantWorkerData {
  readonly kind: typeof GRANT_WORKER;
  readonly keyPem: string;
  readonly x5c: readonly Uint8Array[];
}

export interface GrantTask {
  readonly id: number;
  readonly jobs: readonly GrantJob[];
  readonly secrets: ReadonlyArray<readonly [number, Uint8Array]>;
}

export interface GrantReply {
  readonly id: number;
  readonly results: readonly GrantResult[];
}

function runWorker(data: GrantWorkerData): void {
  const signer: GrantSigner = { key: createPrivateKey(data.keyPem), x5c: data.x5c.map((der) => Buffer.from(der)) };
  const keys = new RecipientKeys();
  parentPort!.on('message', (task: GrantTask) => {
    const secrets = new Map(task.secrets);
    const results = buildGrants(signer, keys, secrets, task.jobs);
    for (const secret of secrets.values()) secret.fill(0);
    parentPort!.postMessage({ id: task.id, results } satisfies GrantReply);
  });
}

if (!isMainThread && (workerData as GrantWorkerData | undefined)?.kind === GRANT_WORKER) runWorker(workerData as GrantWorkerData);
