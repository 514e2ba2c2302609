import { isFleetkeyError } from '../errors/index.js';
import { parseRekeyAck } from '../protocol/rekey-messages.js';
import type { KdcContext } from './context.js';

type Ack = { deviceId: string; epoch: number; grant: number };

/**
 * Device acks (DESIGN.md "Session keys", step 3) from devices/+/rekey/ack, written to the store in
 * batches (one call per `ackFlushMs`, at most 10,000 at a time): a rotation's 10,000 acks arrive
 * within a second or two. The store ignores acks of grants never issued.
 */
export class AckRecorder {
  #batch: Ack[] = [];
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(private readonly ctx: KdcContext) {}

  receive(deviceId: string, body: Buffer): void {
    let ack;
    try {
      ack = parseRekeyAck(body, 'device');
    } catch (err) {
      if (!isFleetkeyError(err)) throw err;
      this.ctx.metrics.acks.inc({ outcome: 'invalid' });
      return;
    }
    if (ack.grant === 0) return void this.ctx.metrics.acks.inc({ outcome: 'invalid' }); // grant numbers start at 1
    this.ctx.presence.seen(deviceId);
    this.#batch.push({ deviceId, epoch: ack.epoch, grant: ack.grant! });
    if (this.#batch.length >= 10_000) this.#flush();
    else this.#timer ??= setTimeout(() => this.#flush(), this.ctx.opts.ackFlushMs);
  }

  /** Resolves once every ack received so far is in the store. */
  async drain(): Promise<void> {
    this.#flush();
    await this.#writing;
  }

  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#batch.length === 0) return;
    const batch = this.#batch;
    this.#batch = [];
    this.#writing = this.#writing.then(() => this.ctx.store.recordAcks(batch)).then(
      () => void this.ctx.metrics.acks.inc({ outcome: 'recorded' }, batch.length),
      (err: unknown) => {
        this.ctx.metrics.acks.inc({ outcome: 'failed' }, batch.length);
        this.ctx.log.error({ event: 'acks-not-recorded', err, acks: batch.length }, 'acks not recorded');
      },
    );
  }
}
