import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { FleetkeyError } from '../errors/index.js';
import { transferredCertificate } from './certificate.js';
import { asBuffer, ISSUING_WORKER, runIssueTask, type IssueReply, type IssueRequest, type IssueTask, type IssuingWorkerData } from './issuing-worker.js';
import type { KeyType } from './keys.js';
import type { FleetCa, IssuedCertificate } from './types.js';

/** The worker entry: issuing-worker.ts under a TypeScript loader (tests), issuing-worker.js when built. */
const WORKER_URL = new URL(import.meta.url.endsWith('.ts') ? './issuing-worker.ts' : './issuing-worker.js', import.meta.url);

/** One worker per core beyond the event loop's, at least one, at most four. */
export function defaultIssuingWorkers(): number {
  return Math.min(4, Math.max(1, availableParallelism() - 1));
}

/** A certificate issued for a device, and the SPKI DER of the key it certifies. */
export interface DeviceIssue {
  readonly issued: IssuedCertificate;
  readonly spki: Buffer;
}

/** Where a worker's failure is reported (a pino logger fits). */
export interface IssuingWorkersLog {
  error(obj: object, msg: string): void;
}

interface Pending {
  readonly resolve: (result: DeviceIssue) => void;
  readonly reject: (err: Error) => void;
}

interface Slot {
  worker: Worker;
  readonly pending: Map<number, Pending>;
}

function settle(reply: IssueReply, pending: Pending): void {
  if ('refusal' in reply) {
    pending.reject(new FleetkeyError(reply.refusal.code, reply.refusal.detail));
    return;
  }
  const { der, serial, notBefore, notAfter, spki } = reply.issued;
  pending.resolve({ issued: transferredCertificate(asBuffer(der), serial, notBefore, notAfter), spki: asBuffer(spki) });
}

/**
 * Device certificates issued on worker threads, from a device's CSR or from a key made here: the
 * request check (decode, key import, signature) and the CA's signature leave the event loop, which
 * only posts the request and reads the answer. Same certificates and refusals as parseCsr +
 * validateDeviceCsr + issueDeviceCertificate on the calling thread, which is what `size` 0 does.
 */
export class IssuingWorkers {
  readonly #ca: FleetCa;
  readonly #slots: Slot[] = [];
  #nextId = 0;
  #closed = false;

  readonly #log: IssuingWorkersLog | undefined;

  constructor(ca: FleetCa, readonly size: number = defaultIssuingWorkers(), log?: IssuingWorkersLog) {
    this.#ca = ca;
    this.#log = log;
    for (let i = 0; i < size; i++) this.#slots.push({ worker: this.#spawn(), pending: new Map() });
  }

  /** A device certificate for the request's key; the request's CN must be `deviceId` (CSR_* codes otherwise). */
  fromCsr(csr: Buffer | string, deviceId: string, lifetimeDays: number): Promise<DeviceIssue> {
    // A copy: the body may be a view into a larger buffer, which postMessage would send whole.
    return this.#submit({ csr: typeof csr === 'string' ? csr : new Uint8Array(csr), deviceId, lifetimeDays });
  }

  /** A device certificate for a key made here (serverkeygen, factory bundles). */
  forKey(spki: Buffer, keyType: KeyType, deviceId: string, lifetimeDays: number): Promise<DeviceIssue> {
    return this.#submit({ spki: new Uint8Array(spki), keyType, deviceId, lifetimeDays });
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all(this.#slots.map(async (slot) => {
      this.#fail(slot, new FleetkeyError('INTERNAL', 'issuing workers closed'));
      await slot.worker.terminate();
    }));
  }

  #submit(request: IssueRequest): Promise<DeviceIssue> {
    if (this.#closed) return Promise.reject(new FleetkeyError('INTERNAL', 'issuing workers closed'));
    const id = this.#nextId++;
    const task: IssueTask = { ...request, id };
    return new Promise((resolve, reject) => {
      if (this.#slots.length === 0) {
        settle(runIssueTask(this.#ca, task), { resolve, reject });
        return;
      }
      let slot = this.#slots[0]!;
      for (const s of this.#slots) if (s.pending.size < slot.pending.size) slot = s;
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage(task);
    });
  }

  #spawn(): Worker {
    const data: IssuingWorkerData = {
      kind: ISSUING_WORKER,
      rootDer: new Uint8Array(this.#ca.root.certificate.der),
      issuingDer: new Uint8Array(this.#ca.issuing.certificate.der),
      issuingKey: this.#ca.issuing.privateKey,
    };
    const worker = new Worker(WORKER_URL, { workerData: data });
    worker.unref();
    worker.on('message', (replies: IssueReply[]) => {
      const slot = this.#slots.find((s) => s.worker === worker);
      if (!slot) return;
      for (const reply of replies) {
        const pending = slot.pending.get(reply.id);
        if (!pending) continue;
        slot.pending.delete(reply.id);
        settle(reply, pending);
      }
    });
    worker.on('error', (err) => this.#replace(worker, err));
    worker.on('exit', (code) => {
      if (!this.#closed) this.#replace(worker, new Error(`issuing worker exited with code ${code}`));
    });
    return worker;
  }

  #fail(slot: Slot, err: Error): void {
    for (const pending of slot.pending.values()) pending.reject(err);
    slot.pending.clear();
  }

  /** A worker died: the requests it held fail (nothing was recorded for them), a new one takes its place. */
  #replace(worker: Worker, err: Error): void {
    const slot = this.#slots.find((s) => s.worker === worker);
    if (!slot || this.#closed) return;
    this.#log?.error({ event: 'issuing-worker-failed', err, requests: slot.pending.size }, 'an issuing worker failed; starting another');
    this.#fail(slot, new FleetkeyError('INTERNAL', `issuing worker failed: ${err.message}`, { cause: err }));
    slot.worker = this.#spawn();
    void worker.terminate();
  }
}
