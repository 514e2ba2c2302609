import type { Logger } from 'pino';
import type { GrantSigner } from '../protocol/grant.js';
import type { RevocationCache } from '../store/revocation-cache.js';
import type { AuditInput, Store } from '../store/types.js';
import type { CertificateDirectory } from './certificates.js';
import type { EpochKeeper } from './epochs.js';
import type { GrantPool } from './grant-pool.js';
import type { KdcMetrics } from './metrics.js';
import type { KdcOptions } from './options.js';
import type { Presence } from './presence.js';

/** What the KDC's steps share: options, state, and the one way out to MQTT. */
export interface KdcContext {
  readonly opts: Readonly<KdcOptions>;
  readonly store: Store;
  readonly log: Logger;
  readonly metrics: KdcMetrics;
  readonly signer: GrantSigner;
  readonly pool: GrantPool;
  readonly epochs: EpochKeeper;
  readonly presence: Presence;
  readonly directory: CertificateDirectory;
  readonly revocations: RevocationCache;
  /** Publishes QoS 1, never retained (a retained grant would be replayed to every later subscriber). */
  readonly publish: (topic: string, payload: string) => Promise<void>;
  /** The store answered EPOCH_NOT_FOUND for an epoch this KDC holds: check it against the high-water mark. */
  readonly epochMissing: () => void;
  /** Devices this KDC granted in an epoch (a rotation skips those already served by a request). */
  readonly grantedIn: Map<number, Set<string>>;
}

/** Milliseconds now, from the KDC's clock. */
export const nowMs = (ctx: KdcContext): number => ctx.opts.clock();

/** Whole seconds, as grant times are. */
export const seconds = (ms: number): number => Math.floor(ms / 1000);

/** Appends to the audit log without holding up the caller; a failure is logged. */
export function audit(ctx: KdcContext, entry: Omit<AuditInput, 'actor'>): void {
  ctx.store.appendAudit({ actor: 'kdc', ...entry }).catch((err: unknown) => ctx.log.error({ event: 'audit-failed', err, action: entry.action }, 'audit entry not written'));
}

/** The set of devices granted in `epoch`; older epochs' sets are dropped. */
export function grantedSet(ctx: KdcContext, epoch: number): Set<string> {
  let set = ctx.grantedIn.get(epoch);
  if (!set) {
    set = new Set();
    ctx.grantedIn.set(epoch, set);
    for (const e of ctx.grantedIn.keys()) if (e < epoch - 1) ctx.grantedIn.delete(e);
  }
  return set;
}
