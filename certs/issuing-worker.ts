import type { KeyObject } from 'node:crypto';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { isFleetkeyError, type ErrorCode } from '../errors/index.js';
import { toIssuedCertificate } from './certificate.js';
import { parseDeviceCsr } from './csr.js';
import { issueDeviceCertificate } from './issue.js';
import type { KeyType } from './keys.js';
import type { FleetCa } from './types.js';

/**
 * A worker thread that issues device certificates: the request's decode, key import and signature
 * check, then the signature under the issuing CA, which together are most of an enrollment's CPU.
 * certs/issuing-workers.ts spreads them over the machine's cores, off a service's event loop. The
 * issuing key comes here as a KeyObject (shared in memory, never serialized) and stays in this process.
 */

export const ISSUING_WORKER = 'fleetkey-issuing-worker';

export interface IssuingWorkerData {
  readonly kind: typeof ISSUING_WORKER;
  readonly rootDer: Uint8Array;
  readonly issuingDer: Uint8Array;
  readonly issuingKey: KeyObject;
}

interface Subject {
  readonly deviceId: string;
  readonly lifetimeDays: number;
}

/** A device's PKCS#10 request (its CN must be the device id), or a public key made here. */
export type IssueRequest = (Subject & { readonly csr: Uint8Array | string }) | (Subject & { readonly spki: Uint8Array; readonly keyType: KeyType });

/** A request as posted to a worker, numbered so that its answer finds its caller. */
export type IssueTask = IssueRequest & { readonly id: number };

/** What crosses back: Buffers arrive as plain Uint8Arrays, so each is a standalone copy. */
export interface IssuedParts {
  readonly der: Uint8Array;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** The certified key's SPKI DER, as the certificate carries it. */
  readonly spki: Uint8Array;
}

export type IssueReply =
  | { readonly id: number; readonly issued: IssuedParts }
  | { readonly id: number; readonly refusal: { readonly code: ErrorCode; readonly detail: string | undefined } };

/** A Buffer over the bytes that crossed threads (no copy). */
export const asBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** One task, on whichever thread calls it; a refusal is returned, never thrown. */
export function runIssueTask(ca: FleetCa, task: IssueTask): IssueReply {
  try {
    const subject: { spki: Buffer; keyType: KeyType } = 'csr' in task
      ? parseDeviceCsr(typeof task.csr === 'string' ? task.csr : asBuffer(task.csr), task.deviceId)
      : { spki: asBuffer(task.spki), keyType: task.keyType };
    const issued = issueDeviceCertificate(ca, { deviceId: task.deviceId, publicKey: subject, lifetimeDays: task.lifetimeDays });
    const { serial, notBefore, notAfter } = issued;
    // Copies: a view into a pooled Buffer would take the whole pool along through postMessage.
    return { id: task.id, issued: { der: new Uint8Array(issued.der), serial, notBefore, notAfter, spki: new Uint8Array(subject.spki) } };
  } catch (err) {
    if (isFleetkeyError(err)) return { id: task.id, refusal: { code: err.code, detail: err.detail } };
    return { id: task.id, refusal: { code: 'INTERNAL', detail: (err as Error).message } };
  }
}

/** The longest a finished answer waits for the others of its batch. */
export const MAX_BATCH_HOLD_MS = 1;

/**
 * Answers go back in batches: the tasks that were queued together are answered in one message once
 * they are all done (or after MAX_BATCH_HOLD_MS). Each message wakes the service's event loop, and
 * on a busy provisioner that wake cost the event loop more than the rest of the hand-over.
 */
function runWorker(data: IssuingWorkerData): void {
  const ca: FleetCa = {
    root: { certificate: toIssuedCertificate(asBuffer(data.rootDer)), privateKey: undefined },
    issuing: { certificate: toIssuedCertificate(asBuffer(data.issuingDer)), privateKey: data.issuingKey },
  };
  let outbox: IssueReply[] = [];
  let heldSince = 0;
  const flush = (): void => {
    if (outbox.length === 0) return;
    const batch = outbox;
    outbox = [];
    parentPort!.postMessage(batch);
  };
  parentPort!.on('message', (task: IssueTask) => {
    outbox.push(runIssueTask(ca, task));
    if (outbox.length === 1) {
      heldSince = performance.now();
      setImmediate(flush);
    } else if (performance.now() - heldSince >= MAX_BATCH_HOLD_MS) {
      flush();
    }
  });
}

if (!isMainThread && (workerData as IssuingWorkerData | undefined)?.kind === ISSUING_WORKER) runWorker(workerData as IssuingWorkerData);
