import type { TLSSocket } from 'node:tls';
import type { AedesOptions, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import type { RevocationCache } from '../store/revocation-cache.js';
import { bindClientId } from '../protocol/principal.js';
import { mayPublish, maySubscribe } from './acl.js';
import { isRepeat } from './delivery-dedupe.js';
import { peerIdentity } from './identity.js';
import type { BrokerMetrics } from './metrics.js';
import { subjectOf, type SessionRegistry } from './sessions.js';

export interface HookContext {
  readonly sessions: SessionRegistry;
  readonly revocations: RevocationCache;
  readonly metrics: BrokerMetrics;
  readonly log: Logger;
  readonly keepalive: { readonly min: number; readonly max: number };
  /** True while the broker holds more unsent bytes than it may (broker/outbound-limit.ts): CONNECTs then get CONNACK 3. */
  readonly overloaded: () => boolean;
  /**
   * A device connected with certificate `serial`: if that is a re-enrollment's pending certificate,
   * supersede the one it replaces (store/succession.ts). Returns the serials revoked.
   */
  readonly confirmFirstUse: (deviceId: string, serial: string) => Promise<string[]>;
}

/** CONNACK return codes of MQTT 3.1.1 §3.2.2.3 that the broker uses. */
const IDENTIFIER_REJECTED = 2;
const SERVER_UNAVAILABLE = 3;
const NOT_AUTHORIZED = 5;

type Refusal = 'no-identity' | 'client-id' | 'store-unavailable' | 'overloaded' | 'revoked' | 'will' | 'keepalive';

function refuse(returnCode: number, message: string): AuthenticateError {
  return Object.assign(new Error(message), { returnCode }) as AuthenticateError;
}

/** Keepalive of the CONNECT packet, kept from preConnect for authenticate (which does not see the packet). */
const keepalives = new WeakMap<Client, number>();

/**
 * The broker's security hooks, deny by default. Identity comes from the verified certificate only:
 * username and password are ignored.
 */
export function securityHooks(ctx: HookContext): Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'> {
  const refused = (client: Client, reason: Refusal, detail: string, returnCode = NOT_AUTHORIZED): AuthenticateError => {
    ctx.metrics.refusals.inc({ reason });
    ctx.log.warn({ event: 'connect-refused', reason, clientId: client.id, detail }, 'connection refused');
    return refuse(returnCode, detail);
  };

  return {
    preConnect(client, packet, done) {
      keepalives.set(client, packet.keepalive ?? 0);
      done(null, true);
    },

    authenticate(client, _username, _password, done) {
      const peer = peerIdentity(client.conn as TLSSocket);
      if (!peer.ok) return done(refused(client, 'no-identity', peer.reason), false);
      const bound = bindClientId(peer.identity, client.id);
      if (!bound.ok) return done(refused(client, 'client-id', bound.reason), false);
      const principal = bound.principal;
      // Fail closed: while a revocation may have been missed nobody is let in; it passes by itself.
      if (!ctx.revocations.isFresh()) {
        return done(refused(client, 'store-unavailable', 'revocations cannot be checked: the store is unavailable', SERVER_UNAVAILABLE), false);
      }
      if (ctx.overloaded()) {
        return done(refused(client, 'overloaded', 'the broker holds too many unsent bytes', SERVER_UNAVAILABLE), false);
      }
      if (ctx.revocations.isRevoked(peer.serial) || ctx.revocations.isSubjectRevoked(subjectOf(principal))) {
        return done(refused(client, 'revoked', `certificate ${peer.serial} is revoked`), false);
      }
      const keepalive = keepalives.get(client) ?? 0;
      keepalives.delete(client);
      if (keepalive < ctx.keepalive.min || keepalive > ctx.keepalive.max) {
        const detail = `keepalive ${keepalive}s is outside ${ctx.keepalive.min}..${ctx.keepalive.max}s`;
        return done(refused(client, 'keepalive', detail, IDENTIFIER_REJECTED), false);
      }
      const will = (client as unknown as { _will: PublishPacket | null })._will;
      if (will && !mayPublish(principal, will.topic, Boolean(will.retain))) {
        return done(refused(client, 'will', `will topic "${will.topic}" is not allowed`), false);
      }
      const admit = () => {
        if ((client.conn as TLSSocket).destroyed) return done(null, false); // gone while the store answered
        ctx.sessions.add(client, principal, peer.serial, peer.notAfter);
        done(null, true);
      };
      if (principal.kind !== 'device') return admit();
      // Awaited before CONNACK, so that a KDC answering the device's next request sees the new key.
      ctx.confirmFirstUse(principal.id, peer.serial).then(
        (superseded) => {
          if (superseded.length === 0) return;
          ctx.metrics.superseded.inc(superseded.length);
          ctx.log.info({ event: 'certificate-first-use', clientId: client.id, serial: peer.serial, superseded }, 'first use of a re-enrolled certificate; superseded the old one');
        },
        // The connection is still let in: the old certificate stays valid, and the next connect tries again.
        (err: unknown) => ctx.log.warn({ event: 'first-use-failed', clientId: client.id, serial: peer.serial, err }, 'could not record the first use of a re-enrolled certificate'),
      ).finally(admit);
    },

    authorizePublish(client, packet, done) {
      if (client === null) {
        // A will restored from persistence after a broker crash: it passed the ACL at CONNECT.
        return done(packet.topic.startsWith('$') ? new Error('refused') : null);
      }
      const session = ctx.sessions.get(client);
      if (session && mayPublish(session.principal, packet.topic, Boolean(packet.retain))) {
        ctx.metrics.messagesIn.inc();
        return done(null);
      }
      ctx.metrics.refusals.inc({ reason: 'publish' });
      ctx.log.warn({ event: 'publish-refused', clientId: client.id, topic: packet.topic, retain: packet.retain }, 'publish refused');
      done(new Error('publish not authorized'));
    },

    authorizeSubscribe(client, subscription: Subscription, done) {
      const session = ctx.sessions.get(client);
      if (session && maySubscribe(session.principal, subscription.topic)) return done(null, subscription);
      ctx.metrics.refusals.inc({ reason: 'subscribe' });
      ctx.log.warn({ event: 'subscribe-refused', clientId: client.id, topic: subscription.topic }, 'subscription refused');
      done(null, null);
    },

    authorizeForward(client, packet) {
      if (isRepeat(client, packet)) return null;
      ctx.metrics.messagesOut.inc();
      return packet;
    },
  };
}
