import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import { FleetkeyError } from '../errors/index.js';
import type { EpochRecord, Store } from '../store/types.js';
import type { EpochHighWater } from './high-water.js';

/**
 * The KDC's view of the fleet epochs (DESIGN.md "Session keys"): the current record, and the epoch
 * secrets S_e it has opened with the KEK, kept in memory only. The store holds them sealed; a
 * secret past retention is destroyed in both places.
 */
export class EpochKeeper {
  #current: EpochRecord | undefined;
  #known = 0;
  readonly #secrets = new Map<number, Buffer>();

  constructor(private readonly store: Store, private readonly kek: Buffer, private readonly log: Logger, readonly highWater: EpochHighWater) {}

  get current(): EpochRecord | undefined {
    return this.#current;
  }

  /**
   * Whether the store's current epoch `stored` is behind this KDC's high-water mark (an older number,
   * none, or the mark's number created again at another time): the store lost writes.
   */
  behind(stored: EpochRecord | undefined): boolean {
    return this.highWater.mark !== undefined && (stored === undefined || !this.highWater.covers(stored));
  }

  /** The lowest epoch number this KDC may create: past every number it has used. */
  get floor(): number {
    return (this.highWater.mark?.epoch ?? 0) + 1;
  }

  /**
   * The store lost epochs this KDC used: their secrets, and the current record if it is one of them,
   * are forgotten, so that nothing more is published under a lost number.
   */
  forgetLost(stored: EpochRecord | undefined): void {
    const kept = stored?.epoch ?? 0;
    for (const [e, secret] of this.#secrets) {
      if (e >= kept && !(stored && e === kept && this.highWater.covers(stored))) {
        secret.fill(0);
        this.#secrets.delete(e);
      }
    }
    if (this.#current && this.#current.epoch >= kept) this.#current = undefined;
  }

  /**
   * Reads the current epoch; creates epoch 1 when the fleet has none yet and this KDC has never used
   * one (of racing replicas one does). A store behind the high-water mark is not adopted (undefined).
   */
  async load(now: number): Promise<EpochRecord | undefined> {
    let current = await this.store.currentEpoch();
    if (this.behind(current)) return undefined;
    if (current === undefined) {
      const secret = randomBytes(32);
      const created = await this.store.createNextEpoch(0, secret, this.kek, new Date(Math.floor(now / 1000) * 1000));
      if (created) {
        this.log.info({ event: 'epoch-created', epoch: 1 }, 'created the first epoch');
        await this.store.markEpochDistributed(1);
        this.#secrets.set(1, secret);
      } else {
        secret.fill(0);
      }
      current = await this.store.currentEpoch();
    }
    if (current === undefined) throw new FleetkeyError('STORE_UNAVAILABLE', 'no current epoch after creating one');
    if (this.behind(current)) return undefined;
    this.#setCurrent(current);
    return current;
  }

  /**
   * A newer epoch made by this KDC (its secret in hand) or announced by the store's `rotated` event.
   * The high-water mark is raised (fsynced) before the epoch becomes current, i.e. before any use.
   */
  async adopt(record: EpochRecord, secret?: Buffer): Promise<void> {
    if (secret) this.#secrets.set(record.epoch, secret);
    if (!this.#current || record.epoch >= this.#current.epoch) {
      const stored = (await this.store.getEpoch(record.epoch)) ?? record;
      if (this.#current?.epoch === stored.epoch && this.#current.createdAt.getTime() !== stored.createdAt.getTime()) this.#dropSecret(stored.epoch);
      if (!this.behind(stored)) this.#setCurrent(stored);
    }
  }

  /** The newest epoch number this KDC knows of, from its own work and the store's `rotated` events in their order. */
  get known(): number {
    return this.#known;
  }

  /** A `rotated` event: the epoch exists (its record is read after). */
  noteRotated(epoch: number): void {
    this.#known = Math.max(this.#known, epoch);
  }

  /** Re-reads the current record (its state changes to distributed); a store behind the mark is not adopted. */
  async refresh(): Promise<EpochRecord | undefined> {
    const current = await this.store.currentEpoch();
    if (current && !this.behind(current) && (!this.#current || current.epoch >= this.#current.epoch)) this.#setCurrent(current);
    return this.#current;
  }

  /** S_e; KDC_EPOCH_SECRET_MISSING when it was destroyed past retention. */
  async secret(epoch: number): Promise<Buffer> {
    let secret = this.#secrets.get(epoch);
    if (secret === undefined) {
      secret = await this.store.epochSecret(epoch, this.kek);
      if (secret === undefined) throw new FleetkeyError('KDC_EPOCH_SECRET_MISSING', `epoch ${epoch}`);
      this.#secrets.set(epoch, secret);
    }
    return secret;
  }

  /** S_e or undefined, for optional uses (a consumer's previous epoch). */
  async maybeSecret(epoch: number): Promise<Buffer | undefined> {
    if (epoch < 1) return undefined;
    try {
      return await this.secret(epoch);
    } catch (err) {
      if (err instanceof FleetkeyError && err.code === 'KDC_EPOCH_SECRET_MISSING') return undefined;
      throw err;
    }
  }

  /** Destroys the secrets of every epoch below `epoch`, here and in the store. */
  async destroyBefore(epoch: number): Promise<number> {
    for (const [e, secret] of this.#secrets) {
      if (e < epoch) {
        secret.fill(0);
        this.#secrets.delete(e);
      }
    }
    return epoch > 1 ? this.store.deleteEpochSecretsBefore(epoch) : 0;
  }

  /** Wipes every secret held in memory. */
  wipe(): void {
    for (const secret of this.#secrets.values()) secret.fill(0);
    this.#secrets.clear();
  }

  #dropSecret(epoch: number): void {
    this.#secrets.get(epoch)?.fill(0);
    this.#secrets.delete(epoch);
  }

  #setCurrent(record: EpochRecord): void {
    this.highWater.raise(record);
    this.#current = record;
    this.#known = Math.max(this.#known, record.epoch);
  }
}
