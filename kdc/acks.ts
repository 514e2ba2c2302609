import { isFleetkeyError } from '../errors/index.js';
import { parseRekeyAck } from '../protocol/rekey-messages.js';
import type { KdcContext } from './context.js';

type Ack = { deviceId: string; epoch: number; grant: number };

/** Acks kept for a store that does not answer; past this the oldest go (their devices stay unacked). */
const MAX_PENDING = 100_000;
const RETRY_FIRST_MS = 250;
const RETRY_MAX_MS = 5000;

/**
 * Device acks (DESIGN.md "Session keys", step 3) from devices/+/rekey/ack, written to the store in
 * batches (one call per `ackFlushMs`, at most 10,000 at a time): a rotation's 10,000 acks arrive
 * within a second or two. The store ignores acks of grants never issued. A device sends its ack once:
 * while the store is unavailable the acks are kept and written again with backoff (recording one
 * twice is harmless), never dropped for an outage.
 */
export class AckRecorder {
  #batch: Ack[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();
  #retryMs = RETRY_FIRST_MS;
  #closed = false;

  constructor(private readonly ctx: KdcContext) {}

  receive(deviceId: string, body: Buffer): void {
    if (this.#closed) return;
    let ack;
    try {
      ack = parseRekeyAck(body, 'device');
    } catch (err) {
      if (!isFleetkeyError(err)) throw err;
      this.ctx.metrics.acks.inc({ outcome: 'invalid' });
      return;
    }
    if (ack.grant === 0) return void this.ctx.metrics.acks.inc({ outcome: 'invalid' }); // grant numbers start at 1
    // Not evidence that the device is connected: an ack queued in this KDC's persistent session while
    // it was down arrives at its restart, perhaps from a device gone since (presence: kdc/presence.ts).
    this.#batch.push({ deviceId, epoch: ack.epoch, grant: ack.grant! });
    if (this.#batch.length >= 10_000) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.ctx.opts.ackFlushMs);
  }

  /** Resolves once every ack received so far is in the store. */
  async drain(): Promise<void> {
    this.#flush();
    await this.#writing;
  }

  /** Stops: acks not yet written are given up (a restarted KDC re-grants the unacked). */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    const batch = this.#batch.splice(0, 10_000);
    this.#writing = this.#writing.then(() => this.ctx.store.recordAcks(batch)).then(
      () => {
        this.ctx.metrics.acks.inc({ outcome: 'recorded' }, batch.length);
        this.#retryMs = RETRY_FIRST_MS;
        if (this.#batch.length > 0) this.#timer ??= setTimeout(() => this.#flush(), 0);
      },
      (err: unknown) => {
        if (isFleetkeyError(err, 'STORE_UNAVAILABLE') && !this.#closed) return this.#keep(batch, err);
        this.ctx.metrics.acks.inc({ outcome: 'failed' }, batch.length);
        this.ctx.log.error({ event: 'acks-not-recorded', err, acks: batch.length }, 'acks not recorded');
      },
    );
  }

  /** The store is unavailable: the batch goes back in front, to be written again after a pause. */
  #keep(batch: Ack[], err: unknown): void {
    this.#batch = batch.concat(this.#batch);
    const over = this.#batch.length - MAX_PENDING;
    if (over > 0) {
      this.#batch.splice(0, over);
      this.ctx.metrics.acks.inc({ outcome: 'failed' }, over);
    }
    this.ctx.metrics.acks.inc({ outcome: 'retried' }, batch.length);
    this.ctx.log.warn({ event: 'acks-waiting-for-store', acks: this.#batch.length, retryInMs: this.#retryMs, err: (err as Error).message }, 'acks kept until the store answers');
    this.#timer ??= setTimeout(() => this.#flush(), this.#retryMs);
    this.#retryMs = Math.min(this.#retryMs * 2, RETRY_MAX_MS);
  }
}
