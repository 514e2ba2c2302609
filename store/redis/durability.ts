import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** How long a durable write waits for a replica's acknowledgement (under the 2 s command timeout). */
export const DEFAULT_DURABLE_WAIT_MS = 500;

/**
 * Writes that must never be lost, on a Redis that has replicas (or is named through Sentinel): each is
 * followed by `WAIT 1 <ms>`, so that when it returns a replica holds it too and a failover or a crash
 * of the primary cannot take it back. A write no replica acknowledged is still applied and reported
 * so; it is logged (`store-write-unreplicated`) and counted, never silent. After one unacknowledged
 * write, later ones do not wait (WAIT blocks the command connection) until a replica is seen again.
 */
export class Durability {
  private replicas = 0;
  private unreplicatedWrites = 0;

  constructor(
    private readonly redis: Redis,
    private readonly sentinel: boolean,
    private readonly logger: Logger,
    private readonly waitMs: number = DEFAULT_DURABLE_WAIT_MS,
  ) {}

  /** Durable writes so far that no replica acknowledged. */
  get unreplicated(): number {
    return this.unreplicatedWrites;
  }

  /** Whether durable writes wait for a replica: the store is replicated (Sentinel, or replicas connected). */
  get active(): boolean {
    return this.sentinel || this.replicas > 0;
  }

  /** Reads how many replicas are connected (at open, and whenever the identity marker is read). */
  async refresh(): Promise<void> {
    try {
      const info = await this.redis.info('replication');
      this.replicas = Number(/^connected_slaves:(\d+)/m.exec(info)?.[1] ?? '0');
    } catch {
      // unreachable now: the next refresh reads it
    }
  }

  async replicate(what: string): Promise<void> {
    if (!this.active) return;
    let acked = 0;
    if (this.replicas > 0) {
      try {
        acked = Number(await this.redis.call('WAIT', 1, this.waitMs));
      } catch {
        acked = 0;
      }
    }
    if (acked >= 1) return;
    this.replicas = 0;
    this.unreplicatedWrites += 1;
    this.logger.warn({ event: 'store-write-unreplicated', op: what, unreplicated: this.unreplicatedWrites, waitMs: this.waitMs },
      'a durable write was applied on the primary but no replica acknowledged it: a failover now could lose it');
  }
}
