import { createPrivateKey } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { FleetkeyError } from '../errors/index.js';
import type { GrantSigner } from '../protocol/grant.js';
import { buildGrants, RecipientKeys, type GrantJob, type GrantResult } from './grant-jobs.js';
import { GRANT_WORKER, type GrantReply, type GrantTask, type GrantWorkerData } from './grant-worker.js';
import type { SignerMaterial } from './signer.js';

/** Jobs per message to a worker: large enough to amortize the message, small enough to stream. */
const CHUNK = 48;

interface Chunk {
  readonly jobs: readonly GrantJob[];
  readonly secrets: ReadonlyMap<number, Uint8Array>;
  readonly done: (results: readonly GrantResult[] | Error) => void;
}

interface Slot {
  worker: Worker;
  busy: { id: number; chunk: Chunk } | undefined;
}

/** The worker entry: grant-worker.ts under a TypeScript loader (tests), grant-worker.js when built. */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './grant-worker.ts' : './grant-worker.js', import.meta.url);

/**
 * Builds grants on `size` worker threads (0 = on the calling thread, yielding between chunks).
 * `build` streams: `onChunk` sees each chunk's grants as soon as they are made, so publishing and
 * the devices' acks overlap the rest of the building.
 */
export class GrantPool {
  readonly size: number;
  readonly #slots: Slot[] = [];
  readonly #queue: Chunk[] = [];
  readonly #inline: { signer: GrantSigner; keys: RecipientKeys };
  #nextId = 0;
  #closed = false;

  constructor(private readonly material: SignerMaterial, size: number, private readonly logger: Logger) {
    this.size = size;
    this.#inline = { signer: { key: createPrivateKey(material.keyPem), x5c: material.x5c }, keys: new RecipientKeys() };
    for (let i = 0; i < size; i++) this.#slots.push({ worker: this.#spawn(), busy: undefined });
  }

  /** Builds every job; results in job order. */
  async build(jobs: readonly GrantJob[], secrets: ReadonlyMap<number, Uint8Array>, onChunk?: (offset: number, results: readonly GrantResult[]) => void): Promise<GrantResult[]> {
    if (this.#closed) throw new FleetkeyError('KDC_CLOSED');
    const out: GrantResult[] = new Array(jobs.length);
    const pending: Promise<void>[] = [];
    for (let offset = 0; offset < jobs.length; offset += CHUNK) {
      const slice = jobs.slice(offset, offset + CHUNK);
      pending.push(this.#run(slice, secrets).then((results) => {
        for (let i = 0; i < results.length; i++) out[offset + i] = results[i]!;
        onChunk?.(offset, results);
      }));
    }
    await Promise.all(pending);
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const chunk of this.#queue.splice(0)) chunk.done(new FleetkeyError('KDC_CLOSED'));
    await Promise.all(this.#slots.map(async (slot) => {
      slot.busy?.chunk.done(new FleetkeyError('KDC_CLOSED'));
      slot.busy = undefined;
      await slot.worker.terminate();
    }));
  }

  #run(jobs: readonly GrantJob[], secrets: ReadonlyMap<number, Uint8Array>): Promise<readonly GrantResult[]> {
    if (this.size === 0) {
      return new Promise((resolve) => setImmediate(() => resolve(buildGrants(this.#inline.signer, this.#inline.keys, secrets, jobs))));
    }
    return new Promise((resolve, reject) => {
      this.#queue.push({ jobs, secrets, done: (r) => (r instanceof Error ? reject(r) : resolve(r)) });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    for (const slot of this.#slots) {
      if (slot.busy || this.#queue.length === 0) continue;
      const chunk = this.#queue.shift()!;
      const id = this.#nextId++;
      slot.busy = { id, chunk };
      // Standalone copies: a pooled Buffer would take its whole 8 KiB pool along through postMessage.
      const secrets = [...chunk.secrets].map(([epoch, secret]) => [epoch, new Uint8Array(secret)] as const);
      const task: GrantTask = { id, jobs: chunk.jobs, secrets };
      slot.worker.postMessage(task);
    }
  }

  #spawn(): Worker {
    const data: GrantWorkerData = { kind: GRANT_WORKER, keyPem: this.material.keyPem, x5c: this.material.x5c };
    const worker = new Worker(WORKER_URL, { workerData: data });
    worker.unref();
    worker.on('message', (reply: GrantReply) => {
      const slot = this.#slots.find((s) => s.worker === worker);
      if (!slot?.busy || slot.busy.id !== reply.id) return;
      const { chunk } = slot.busy;
      slot.busy = undefined;
      chunk.done(reply.results);
      this.#dispatch();
    });
    worker.on('error', (err) => this.#replace(worker, err));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#replace(worker, new Error(`grant worker exited with code ${code}`));
    });
    return worker;
  }

  /** A worker died: its chunk fails (the caller's grant numbers are simply not used), a new one takes its place. */
  #replace(worker: Worker, err: Error): void {
    const slot = this.#slots.find((s) => s.worker === worker);
    if (!slot || this.#closed) return;
    this.logger.error({ event: 'grant-worker-failed', err }, 'a grant worker failed; starting another');
    slot.busy?.chunk.done(new FleetkeyError('KDC_GRANT_FAILED', err.message, { cause: err }));
    slot.busy = undefined;
    slot.worker = this.#spawn();
    void worker.terminate();
    this.#dispatch();
  }
}
