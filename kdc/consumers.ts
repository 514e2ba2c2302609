import type { KeyObject } from 'node:crypto';
import { isFleetkeyError } from '../errors/index.js';
import { epochGrantJws } from '../protocol/grant.js';
import { parseRekeyAck, parseRekeyRequest } from '../protocol/rekey-messages.js';
import { serviceTopics } from '../protocol/topics.js';
import type { EpochRecord } from '../store/types.js';
import { nowMs, seconds, type KdcContext } from './context.js';
import { refuse, RequestLimiter } from './requests.js';

/**
 * Consumers' keys (DESIGN.md "Consumers"): a consumer requests on services/C/rekey/request and gets
 * one epoch grant per epoch it may open — the current one, and each earlier one whose grace has not
 * ended (grace of e = activation of e+1 + graceSeconds) and whose secret is still kept. At each
 * rotation the KDC pushes the new epoch to every connected consumer that has been answered (only
 * those accept an unsolicited grant), before the devices switch at its nbf.
 */
export class ConsumerGrants {
  /** Consumers answered since this KDC started, while connected: client id → recipient key. */
  readonly #answered = new Map<string, KeyObject>();
  readonly #limiter: RequestLimiter;

  constructor(private readonly ctx: KdcContext) {
    this.#limiter = new RequestLimiter(ctx.opts.requestIntervalMs);
  }

  get connected(): number {
    return this.#answered.size;
  }

  /** A request body from services/<clientId>/rekey/request. */
  async receive(clientId: string, body: Buffer): Promise<void> {
    const { ctx } = this;
    let nonce: string;
    try {
      nonce = parseRekeyRequest(body).nonce;
    } catch (err) {
      if (!isFleetkeyError(err)) throw err;
      return refuse(ctx, 'epoch', clientId, 'malformed');
    }
    if (!this.#limiter.allow(clientId, nowMs(ctx))) return refuse(ctx, 'epoch', clientId, 'rate-limited');
    const key = await ctx.directory.consumer(clientId);
    if (!key) return refuse(ctx, 'epoch', clientId, 'consumer-unknown');
    const current = ctx.epochs.current;
    if (!current) return;
    for (const record of await this.#openable(current)) await this.#send(clientId, key, record, nonce);
    this.#answered.set(clientId, key);
  }

  /** An ack on services/<clientId>/rekey/ack: counted only. */
  ack(clientId: string, body: Buffer): void {
    try {
      const { epoch } = parseRekeyAck(body, 'consumer');
      this.ctx.metrics.acks.inc({ outcome: 'recorded' });
      this.ctx.log.debug({ event: 'consumer-ack', clientId, epoch }, 'consumer acknowledged an epoch');
    } catch (err) {
      if (!isFleetkeyError(err)) throw err;
      this.ctx.metrics.acks.inc({ outcome: 'invalid' });
    }
  }

  /** A client left its broker node: no more pushes until it asks again. */
  disconnected(clientId: string): void {
    this.#answered.delete(clientId);
  }

  /** Sends the new epoch to every answered consumer (no `req`: an unsolicited, newer epoch). */
  async push(record: EpochRecord): Promise<void> {
    await Promise.all([...this.#answered].map(([clientId, key]) => this.#send(clientId, key, record, undefined).catch((err: unknown) => {
      this.ctx.log.error({ event: 'epoch-push-failed', clientId, epoch: record.epoch, err }, 'epoch grant not pushed');
    })));
  }

  /** The current epoch and the earlier ones still in grace, newest first. */
  async #openable(current: EpochRecord): Promise<EpochRecord[]> {
    const { ctx } = this;
    const now = nowMs(ctx);
    const out = [current];
    let successor = current;
    for (let e = current.epoch - 1; e >= 1; e--) {
      if (successor.activatesAt.getTime() + ctx.opts.graceSeconds * 1000 <= now) break;
      const record = await ctx.store.getEpoch(e);
      if (!record || !(await ctx.epochs.maybeSecret(e))) break;
      out.push(record);
      successor = record;
    }
    return out;
  }

  async #send(clientId: string, key: KeyObject, record: EpochRecord, req: string | undefined): Promise<void> {
    const { ctx } = this;
    const iat = seconds(nowMs(ctx));
    const nbf = Math.ceil(record.activatesAt.getTime() / 1000);
    const jws = epochGrantJws({
      signer: ctx.signer, consumerId: clientId, consumerPublicKey: key, epoch: record.epoch, epochSecret: await ctx.epochs.secret(record.epoch),
      req, iat, nbf, exp: Math.max(iat, nbf) + ctx.opts.grantTtlSeconds,
    });
    await ctx.publish(serviceTopics.rekey(clientId), jws);
    ctx.metrics.grants.inc({ kind: 'epoch', outcome: 'issued' });
  }
}
