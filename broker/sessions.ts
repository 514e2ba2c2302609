import type { Client } from 'aedes';
import type { Logger } from 'pino';
import type { Principal } from '../protocol/principal.js';
import { publishPolicy, type PublishPolicy } from './acl.js';
import type { BrokerMetrics } from './metrics.js';

/** What the broker knows about one authenticated session. */
export interface Session {
  readonly client: Client;
  readonly principal: Principal;
  readonly mayPublish: PublishPolicy;
  /** Serial of the certificate the session was opened with (upper-case hex). */
  readonly serial: string;
  readonly notAfter: Date;
  expiryTimer: NodeJS.Timeout | undefined;
}

/** Node timers hold at most 2^31-1 ms (≈ 24.8 days); longer waits are re-armed. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Live sessions by client, and the two ways the broker ends them on its own:
 * the certificate was revoked, or it expired while the session was open.
 */
export class SessionRegistry {
  private readonly byClient = new Map<Client, Session>();

  constructor(
    private readonly metrics: BrokerMetrics,
    private readonly log: Logger,
  ) {}

  get size(): number {
    return this.byClient.size;
  }

  get(client: Client): Session | undefined {
    return this.byClient.get(client);
  }

  add(client: Client, principal: Principal, serial: string, notAfter: Date): Session {
    const session: Session = { client, principal, mayPublish: publishPolicy(principal), serial, notAfter, expiryTimer: undefined };
    this.byClient.set(client, session);
    this.armExpiry(session);
    return session;
  }

  remove(client: Client): void {
    const session = this.byClient.get(client);
    if (!session) return;
    clearTimeout(session.expiryTimer);
    this.byClient.delete(client);
  }

  /** Closes every session opened with one of `serials`, or held by `subject` when given. Returns how many. */
  kickRevoked(serials: readonly string[], subject: string | undefined, revokedAt: Date): number {
    const revoked = new Set(serials);
    let kicked = 0;
    for (const session of [...this.byClient.values()]) {
      if (!revoked.has(session.serial) && (subject === undefined || subjectOf(session.principal) !== subject)) continue;
      this.kick(session, 'revoked');
      this.metrics.revocationToKick.observe(Math.max(0, Date.now() - revokedAt.getTime()) / 1000);
      kicked++;
    }
    return kicked;
  }

  closeAll(): void {
    for (const session of [...this.byClient.values()]) this.remove(session.client);
  }

  private kick(session: Session, reason: 'revoked' | 'expired'): void {
    this.remove(session.client);
    this.metrics.kicks.inc({ reason });
    this.log.warn({ event: 'kick', reason, clientId: session.client.id, serial: session.serial }, `session closed: certificate ${reason}`);
    session.client.close();
  }

  private armExpiry(session: Session): void {
    const remaining = session.notAfter.getTime() - Date.now();
    if (remaining <= 0) {
      this.kick(session, 'expired');
      return;
    }
    session.expiryTimer = setTimeout(() => this.armExpiry(session), Math.min(remaining + 1, MAX_TIMER_MS));
    session.expiryTimer.unref();
  }
}

/** The subject a revocation names: the device id, or `service:<role>`. */
export function subjectOf(principal: Principal): string {
  return principal.kind === 'device' ? principal.id : `service:${principal.role}`;
}
