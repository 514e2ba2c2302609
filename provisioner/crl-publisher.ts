import type { Logger } from 'pino';
import { buildCrl, type CrlEntry } from '../certs/crl.js';
import type { FleetCa } from '../certs/types.js';
import type { Store } from '../store/types.js';
import type { ProvisionerMetrics } from './metrics.js';

/**
 * The issuing CA's current CRL, kept signed in memory. Every replica rebuilds its own from the store
 * whenever any process on the store publishes `revoked`, and re-signs it at half its validity, so each
 * one serves a fresh CRL without sharing files. Builds are coalesced: a burst of revocations costs at
 * most one build in progress and one queued.
 */
export class CrlPublisher {
  private current: Buffer | undefined;
  private running: Promise<void> | undefined;
  private queued: Promise<void> | undefined;
  private readonly stops: (() => void)[] = [];

  constructor(
    private readonly ca: FleetCa,
    private readonly store: Store,
    private readonly nextUpdateHours: number,
    private readonly metrics: ProvisionerMetrics,
    private readonly log: Logger,
  ) {}

  /** Subscribes first, then builds the first CRL, so no revocation made meanwhile is missed. */
  async start(): Promise<void> {
    this.stops.push(this.store.on('revoked', () => this.refreshInBackground('revoked')));
    const timer = setInterval(() => this.refreshInBackground('schedule'), (this.nextUpdateHours * 3_600_000) / 2);
    timer.unref();
    this.stops.push(() => clearInterval(timer));
    await this.refresh();
  }

  /** The DER of the newest CRL, undefined until the first build succeeded. */
  get der(): Buffer | undefined {
    return this.current;
  }

  /** Resolves once a CRL built after this call (so including every revocation recorded before it) is current. */
  refresh(): Promise<void> {
    if (this.running === undefined) {
      this.running = this.build().finally(() => {
        this.running = undefined;
      });
      return this.running;
    }
    this.queued ??= this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = undefined;
        return this.refresh();
      });
    return this.queued;
  }

  close(): void {
    for (const stop of this.stops.splice(0)) stop();
  }

  private refreshInBackground(why: string): void {
    this.refresh().catch((err: unknown) => {
      this.log.error({ event: 'crl-build-failed', why, err }, 'CRL rebuild failed; serving the previous CRL');
    });
  }

  private async build(): Promise<void> {
    const revocations = await this.store.listRevocations();
    const entries: CrlEntry[] = revocations
      .filter((r) => r.reason !== 'removeFromCRL')
      .map((r) => ({ serial: r.serial, revokedAt: r.revokedAt, reason: r.reason }));
    const crlNumber = await this.store.nextCrlNumber();
    const crl = buildCrl(this.ca, entries, { crlNumber, nextUpdateHours: this.nextUpdateHours });
    this.current = crl.der;
    this.metrics.crlBuilds.inc();
    this.log.debug({ event: 'crl-built', entries: entries.length, crlNumber: crlNumber.toString() }, 'CRL rebuilt');
  }
}
