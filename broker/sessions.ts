import type { Client } from 'aedes';
import type { Logger } from 'pino';
import type { Principal } from '../protocol/principal.js';
import type { RevocationCache } from '../store/revocation-cache.js';
import type { BrokerMetrics } from './metrics.js';

/** What the broker knows about one authenticated session. */
export interface Session {
  readonly client: Client;
  readonly principal: Principal;
  /** Serial of the certificate the session was opened with (upper-case hex). */
  readonly serial: string;
  /** The certificate's notAfter, in ms since the epoch. */
  readonly notAfter: number;
}

/** How often sessions are checked for expired certificates. */
const EXPIRY_SWEEP_MS = 1000;

/**
 * Live sessions by client, and the two ways the broker ends them on its own:
 * the certificate was revoked, or it expired while the session was open.
 */
export class SessionRegistry {
  private readonly byClient = new Map<Client, Session>();
  // One sweep for all sessions rather than a timer each: cheaper per connection, and a second of
  // lateness is nothing against certificate lifetimes of days.
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly log: Logger,
  ) {
    this.sweeper = setInterval(() => this.kickExpired(Date.now()), EXPIRY_SWEEP_MS);
    this.sweeper.unref();
  }

  get size(): number {
    return this.byClient.size;
  }

  get(client: Client): Session | undefined {
    return this.byClient.get(client);
  }

  add(client: Client, principal: Principal, serial: string, notAfter: Date): Session {
    const session: Session = { client, principal, serial, notAfter: notAfter.getTime() };
    this.byClient.set(client, session);
    return session;
  }

  /** Ids of the devices with a session here (the presence census). */
  deviceIds(): string[] {
    const ids: string[] = [];
    for (const { principal } of this.byClient.values()) if (principal.kind === 'device') ids.push(principal.id);
    return ids;
  }

  remove(client: Client): void {
    this.byClient.delete(client);
  }

  /** Closes every session opened with one of `serials`, or held by `subject` when given. Returns how many. */
  kickRevoked(serials: readonly string[], subject: string | undefined, revokedAt: Date): number {
    const revoked = new Set(serials);
    return this.kickWhere(
      (session) => revoked.has(session.serial) || (subject !== undefined && subjectOf(session.principal) === subject),
      revokedAt,
    );
  }

  /**
   * Closes every session the cache now says is revoked: after the revocations were read again
   * following a gap in store events, when a revocation may have been missed. Returns how many.
   */
  kickListedIn(revocations: RevocationCache): number {
    return this.kickWhere((session) => revocations.isRevoked(session.serial) || revocations.isSubjectRevoked(subjectOf(session.principal)));
  }

  private kickWhere(revoked: (session: Session) => boolean, revokedAt?: Date): number {
    let kicked = 0;
    for (const session of [...this.byClient.values()]) {
      if (!revoked(session)) continue;
      this.kick(session, 'revoked');
      if (revokedAt) this.metrics.revocationToKick.observe(Math.max(0, Date.now() - revokedAt.getTime()) / 1000);
      kicked++;
    }
    return kicked;
  }

  closeAll(): void {
    clearInterval(this.sweeper);
    this.byClient.clear();
  }

  private kickExpired(now: number): void {
    for (const session of this.byClient.values()) {
      if (session.notAfter < now) this.kick(session, 'expired'); // valid through notAfter, RFC 5280 §4.1.2.5
    }
  }

  private kick(session: Session, reason: 'revoked' | 'expired'): void {
    this.remove(session.client);
    this.metrics.kicks.inc({ reason });
    this.log.warn({ event: 'kick', reason, clientId: session.client.id, serial: session.serial }, `session closed: certificate ${reason}`);
    session.client.close();
  }
}

/** The subject a revocation names: the device id, or `service:<role>`. */
export function subjectOf(principal: Principal): string {
  return principal.kind === 'device' ? principal.id : `service:${principal.role}`;
}
